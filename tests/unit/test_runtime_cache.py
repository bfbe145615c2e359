"""The cache reconcilers read: safe against unwatched and unsynced kinds, indexes by key."""

from __future__ import annotations

import pytest

from controller.clients.kube import CONFIGMAPS, PODS, SECRETS
from controller.runtime.cache import NotSynced, NotWatched
from controller.runtime.manager import Manager
from controller.runtime.store import Obj


def pod(name: str, ns: str = "ns", secret: str | None = None) -> Obj:
    spec = {"volumes": [{"secret": {"secretName": secret}}]} if secret else {}
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": "1"}, "spec": spec}


def secrets_of(obj: Obj) -> list[str]:
    ns = obj["metadata"]["namespace"]
    volumes = obj.get("spec", {}).get("volumes", [])
    return [f"{ns}/{v['secret']['secretName']}" for v in volumes if "secret" in v]


def manager() -> Manager:
    return Manager(None, namespace="ns")  # type: ignore[arg-type]  # no I/O here


def test_reading_an_unwatched_kind_raises_not_watched() -> None:
    mgr = manager()
    mgr.informer_for(PODS).apply_list([], "1")
    for read in (
        lambda: mgr.cache.get(SECRETS, "ns/a"),
        lambda: mgr.cache.list(SECRETS),
        lambda: mgr.cache.index_keys(SECRETS, "namespace", "ns"),
    ):
        with pytest.raises(NotWatched):  # never an empty answer
            read()
    assert not mgr.cache.synced(SECRETS)


def test_reading_before_the_first_list_raises_not_synced() -> None:
    mgr = manager()
    informer = mgr.informer_for(CONFIGMAPS)
    with pytest.raises(NotSynced):
        mgr.cache.list(CONFIGMAPS)
    with pytest.raises(NotSynced):
        mgr.cache.get(CONFIGMAPS, "ns/a")
    assert not mgr.cache.synced(CONFIGMAPS)
    informer.apply_list([], "7")  # an empty list is an answer: "none exist"
    assert mgr.cache.list(CONFIGMAPS) == [] and mgr.cache.synced(CONFIGMAPS)


def test_index_keys_follow_changes() -> None:
    mgr = manager()
    mgr.add_index(PODS, "secret", secrets_of)
    informer = mgr.informer_for(PODS)
    informer.apply_list([pod("a", secret="tls"), pod("b", secret="tls"), pod("c")], "1")
    assert mgr.cache.index_keys(PODS, "secret", "ns/tls") == ["ns/a", "ns/b"]
    moved = pod("b", secret="other")
    moved["metadata"]["resourceVersion"] = "2"
    informer.apply_event({"type": "MODIFIED", "object": moved})
    assert mgr.cache.index_keys(PODS, "secret", "ns/tls") == ["ns/a"]
    assert [o["metadata"]["name"] for o in mgr.cache.by_index(PODS, "secret", "ns/other")] == ["b"]
    assert mgr.cache.index_keys(PODS, "secret", "ns/none") == []
    with pytest.raises(KeyError):
        mgr.cache.index_keys(PODS, "no-such-index", "x")


def test_an_index_added_after_sync_covers_cached_objects() -> None:
    mgr = manager()
    mgr.informer_for(PODS).apply_list([pod("a", secret="tls")], "1")
    mgr.add_index(PODS, "secret", secrets_of)
    assert mgr.cache.index_keys(PODS, "secret", "ns/tls") == ["ns/a"]
