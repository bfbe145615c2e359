"""The informer's store and its event/list application, without an API server."""

from __future__ import annotations

from typing import Any

import pytest

from controller.clients.kube import ApiError
from controller.common.ownership import BY_CLUSTER, by_owning_cluster, owning_cluster
from controller.common.resources import PODS
from controller.runtime.informer import Informer, ResourceExpired, WatchError, needs_relist
from controller.runtime.store import (
    ADDED,
    BY_NAMESPACE,
    DELETED,
    MODIFIED,
    Obj,
    Store,
    object_key,
    split_key,
)

Event = tuple[str, Obj | None, Obj | None]


def pod(name: str, rv: str, ns: str = "ns", *, cluster: str | None = None, **meta: Any) -> Obj:
    metadata: Obj = {"name": name, "namespace": ns, "resourceVersion": rv, **meta}
    if cluster:
        metadata["labels"] = {"etcd_cluster": cluster}
    return {"metadata": metadata, "spec": {}}


def owner_ref(name: str, kind: str = "EtcdCluster", controller: bool = True) -> Obj:
    return {"kind": kind, "name": name, "controller": controller, "uid": "u", "apiVersion": "x"}


def recording_informer() -> tuple[Informer, list[Event]]:
    # The client is never used: these tests drive apply_list/apply_event directly.
    informer = Informer(None, PODS, "ns")  # type: ignore[arg-type]
    events: list[Event] = []
    informer.add_handler(lambda t, old, new: events.append((t, old, new)))
    return informer, events


def test_keys_round_trip() -> None:
    assert object_key(pod("a", "1")) == "ns/a"
    assert object_key({"metadata": {"name": "node1"}}) == "node1"
    assert split_key("ns/a") == ("ns", "a")
    assert split_key("node1") == (None, "node1")


def test_first_list_syncs_and_adds_everything() -> None:
    informer, events = recording_informer()
    assert not informer.has_synced
    informer.apply_list([pod("a", "1"), pod("b", "2")], "10")
    assert informer.has_synced
    assert informer.resource_version == "10"
    assert sorted(informer.store.keys()) == ["ns/a", "ns/b"]
    assert [(t, old, object_key(new)) for t, old, new in events if new] == [
        (ADDED, None, "ns/a"),
        (ADDED, None, "ns/b"),
    ]


def test_empty_first_list_still_syncs() -> None:
    informer, events = recording_informer()
    informer.apply_list([], "5")
    assert informer.has_synced and events == [] and len(informer.store) == 0


def test_relist_delivers_tombstones_with_last_known_state() -> None:
    informer, events = recording_informer()
    informer.apply_list([pod("a", "1"), pod("b", "2"), pod("c", "3")], "10")
    informer.apply_event({"type": MODIFIED, "object": pod("b", "11", phase="Running")})
    events.clear()

    # While the watch was down: a changed, b deleted, c untouched, d created.
    informer.apply_list([pod("a", "12"), pod("c", "3"), pod("d", "13")], "13")

    by_type = {(t, object_key(new or old or {})): (old, new) for t, old, new in events}
    assert set(by_type) == {(MODIFIED, "ns/a"), (DELETED, "ns/b"), (ADDED, "ns/d")}
    old_b, new_b = by_type[(DELETED, "ns/b")]
    assert new_b is None and old_b is not None
    assert old_b["metadata"]["resourceVersion"] == "11"  # the last state the cache knew
    old_a, _ = by_type[(MODIFIED, "ns/a")]
    assert old_a is not None and old_a["metadata"]["resourceVersion"] == "1"
    assert sorted(informer.store.keys()) == ["ns/a", "ns/c", "ns/d"]


def test_managed_fields_stripped_and_kind_filled_in() -> None:
    informer, _ = recording_informer()
    listed = pod("a", "1", managedFields=[{"manager": "kubectl"}])
    informer.apply_list([informer.normalize(listed)], "1")
    informer.apply_event({"type": ADDED, "object": pod("b", "2", managedFields=[{"manager": "x"}])})
    for key in ("ns/a", "ns/b"):
        stored = informer.store.get(key)
        assert stored is not None
        assert "managedFields" not in stored["metadata"]
        assert stored["kind"] == "Pod" and stored["apiVersion"] == "v1"


def test_watch_events_update_store_and_report_old_and_new() -> None:
    informer, events = recording_informer()
    informer.apply_list([pod("a", "1")], "1")
    events.clear()
    informer.apply_event({"type": ADDED, "object": pod("a", "2")})  # re-sent after reconnect
    informer.apply_event({"type": DELETED, "object": pod("a", "3")})
    informer.apply_event({"type": DELETED, "object": pod("ghost", "4")})
    assert [
        (t, (old or {}).get("metadata", {}).get("resourceVersion")) for t, old, _ in events
    ] == [
        (MODIFIED, "1"),
        (DELETED, "3"),
        (DELETED, "4"),
    ]
    assert len(informer.store) == 0
    assert informer.resource_version == "4"


def test_bookmark_moves_resource_version_only() -> None:
    informer, events = recording_informer()
    informer.apply_list([], "1")
    informer.apply_event({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "99"}}})
    assert informer.resource_version == "99" and events == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (
            {"code": 410, "reason": "Expired", "message": "too old resource version"},
            ResourceExpired,
        ),
        ({"code": 410, "reason": "Gone"}, ResourceExpired),
        (
            {
                "code": 504,
                "reason": "Timeout",
                "details": {"causes": [{"reason": "ResourceVersionTooLarge"}]},
            },
            ResourceExpired,
        ),
        ({"code": 500, "reason": "InternalError"}, WatchError),
    ],
)
def test_error_events(status: Obj, expected: type[Exception]) -> None:
    informer, _ = recording_informer()
    informer.apply_list([], "1")
    with pytest.raises(expected):
        informer.apply_event({"type": "ERROR", "object": {"kind": "Status", **status}})


def test_late_handler_replays_cache_as_adds() -> None:
    informer, _ = recording_informer()
    informer.apply_list([pod("a", "1"), pod("b", "1")], "1")
    late: list[Event] = []
    informer.add_handler(lambda t, old, new: late.append((t, old, new)))
    assert sorted(object_key(new or {}) for t, _, new in late if t == ADDED) == ["ns/a", "ns/b"]


def test_broken_handler_does_not_stop_the_others() -> None:
    informer, events = recording_informer()

    def broken(t: str, old: Obj | None, new: Obj | None) -> None:
        raise RuntimeError("boom")

    informer.add_handler(broken)
    informer.apply_list([pod("a", "1")], "1")
    assert len(events) == 1 and "ns/a" in informer.store


def test_indexes_follow_updates_and_deletes() -> None:
    store = Store()
    store.add_index(BY_CLUSTER, by_owning_cluster)
    store.upsert(pod("m1", "1", cluster="example"))
    store.upsert(pod("m2", "1", ownerReferences=[owner_ref("example")]))
    store.upsert(pod("other", "1", ns="elsewhere", cluster="example"))
    store.upsert(pod("stray", "1"))
    assert [o["metadata"]["name"] for o in store.by_index(BY_CLUSTER, "ns/example")] == [
        "m1",
        "m2",
    ]
    assert store.index_keys(BY_NAMESPACE, "ns") == ["ns/m1", "ns/m2", "ns/stray"]

    store.upsert(pod("m1", "2", cluster="other"))  # relabelled: moves bucket
    store.delete("ns/m2")
    assert store.index_keys(BY_CLUSTER, "ns/example") == []
    assert store.index_keys(BY_CLUSTER, "ns/other") == ["ns/m1"]
    assert store.index_keys(BY_CLUSTER, "elsewhere/example") == ["elsewhere/other"]


def test_owner_reference_beats_label() -> None:
    obj = pod("m", "1", cluster="by-label", ownerReferences=[owner_ref("by-owner")])
    assert owning_cluster(obj) == "ns/by-owner"
    not_controller = pod(
        "m", "1", cluster="lbl", ownerReferences=[owner_ref("o", controller=False)]
    )
    assert owning_cluster(not_controller) == "ns/lbl"
    other_kind = pod("m", "1", ownerReferences=[owner_ref("rs", kind="ReplicaSet")])
    assert owning_cluster(other_kind) is None


def test_custom_indexers_are_pluggable() -> None:
    store = Store({"phase": lambda o: [o.get("status", {}).get("phase", "")]})
    store.upsert({**pod("a", "1"), "status": {"phase": "Running"}})
    store.upsert({**pod("b", "1"), "status": {"phase": "Pending"}})
    assert store.index_keys("phase", "Running") == ["ns/a"]
    assert store.index_names == ["phase"]
    with pytest.raises(KeyError):
        store.by_index(BY_CLUSTER, "ns/x")


def test_http_410_and_too_large_answers_mean_relist() -> None:
    gone = ApiError(410, {"kind": "Status", "code": 410, "reason": "Expired"})
    too_large = ApiError(
        504,
        {
            "code": 504,
            "reason": "Timeout",
            "details": {"causes": [{"reason": "ResourceVersionTooLarge"}]},
        },
    )
    assert needs_relist(gone) and needs_relist(too_large)
    assert not needs_relist(ApiError(500, {"code": 500, "reason": "InternalError"}))
    assert not needs_relist(ApiError(503, "service unavailable"))


def test_index_added_later_covers_existing_objects() -> None:
    store = Store()
    store.upsert({**pod("a", "1"), "spec": {"nodeName": "n1"}})
    store.add_index("node", lambda o: [o["spec"]["nodeName"]] if o["spec"].get("nodeName") else [])
    store.upsert({**pod("b", "1"), "spec": {"nodeName": "n1"}})
    assert store.index_keys("node", "n1") == ["ns/a", "ns/b"]
    assert store.index_keys(BY_NAMESPACE, "ns") == ["ns/a", "ns/b"]  # the defaults stay
