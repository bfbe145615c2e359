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


def test_a_write_is_read_back_until_the_watch_delivers_something_newer() -> None:
    mgr = manager()
    informer = mgr.informer_for(PODS)
    informer.apply_list([pod("a")], "1")  # at resourceVersion 1
    written = {**pod("a"), "status": {"phase": "Written"}}
    written["metadata"] = {**written["metadata"], "resourceVersion": "2"}
    mgr.cache.wrote(PODS, "ns/a", "1", written)
    assert mgr.cache.get(PODS, "ns/a") == written  # the watch still shows 1: the write wins
    copy = mgr.cache.get(PODS, "ns/a")
    assert copy is not None
    copy["status"]["phase"] = "mutated"
    assert mgr.cache.get(PODS, "ns/a") == written  # a copy, as every read

    newer = {**pod("a"), "status": {"phase": "Someone else's"}}
    newer["metadata"] = {**newer["metadata"], "resourceVersion": "3"}
    informer.apply_event({"type": "MODIFIED", "object": newer})
    assert rv(mgr.cache.get(PODS, "ns/a")) == "3"  # the watch moved on: the store is the truth
    informer.apply_event({"type": "MODIFIED", "object": pod("a")})  # never again the write
    assert rv(mgr.cache.get(PODS, "ns/a")) == "1"


def test_a_written_object_that_went_away_is_gone() -> None:
    mgr = manager()
    informer = mgr.informer_for(PODS)
    informer.apply_list([pod("a")], "1")
    mgr.cache.wrote(
        PODS, "ns/a", "1", {**pod("a"), "metadata": {"name": "a", "resourceVersion": "2"}}
    )
    informer.apply_event({"type": "DELETED", "object": pod("a")})
    assert mgr.cache.get(PODS, "ns/a") is None
    mgr.cache.wrote(PODS, "ns/b", None, pod("b"))  # nothing known to start from: not kept
    mgr.cache.wrote(PODS, "ns/a", "1", pod("a"))  # no newer version: not kept
    informer.apply_event({"type": "ADDED", "object": pod("a")})
    assert rv(mgr.cache.get(PODS, "ns/a")) == "1"


def rv(obj: Obj | None) -> str:
    assert obj is not None
    return str(obj["metadata"]["resourceVersion"])


def test_writes_in_a_row_are_read_back_while_the_watch_shows_any_version_before_them() -> None:
    mgr = manager()
    informer = mgr.informer_for(PODS)
    informer.apply_list([pod("a")], "1")
    at = {
        v: {**pod("a"), "metadata": {**pod("a")["metadata"], "resourceVersion": v}} for v in "2345"
    }
    mgr.cache.wrote(PODS, "ns/a", "1", at["2"])
    mgr.cache.wrote(PODS, "ns/a", "2", at["3"])  # the pass after read 2 back, wrote 3
    assert rv(mgr.cache.get(PODS, "ns/a")) == "3"  # the watch shows 1
    informer.apply_event({"type": "MODIFIED", "object": at["2"]})
    assert rv(mgr.cache.get(PODS, "ns/a")) == "3"  # it shows 2: still behind
    mgr.cache.wrote(PODS, "ns/a", "4", at["5"])  # from a version it did not write: a new chain
    assert rv(mgr.cache.get(PODS, "ns/a")) == "2"  # 2 is not known to be older than 5
