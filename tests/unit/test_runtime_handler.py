"""Event mappers: which reconcile keys an informer event enqueues."""

from __future__ import annotations

from typing import Any

from controller.clients.kube import PODS
from controller.runtime.handler import any_object, to_owner, to_referrers, to_self
from controller.runtime.manager import Manager
from controller.runtime.store import ADDED, DELETED, MODIFIED, Obj

OWNER_LABEL = "etcd_cluster"


def obj(name: str, *, owner: str | None = None, label: str | None = None, **meta: Any) -> Obj:
    metadata: dict[str, Any] = {"name": name, "namespace": "ns", "resourceVersion": "1", **meta}
    if owner:
        metadata["ownerReferences"] = [
            {"kind": "EtcdCluster", "name": owner, "controller": True, "uid": "u"}
        ]
    if label:
        metadata["labels"] = {OWNER_LABEL: label}
    return {"metadata": metadata}


to_cluster = to_owner("EtcdCluster", OWNER_LABEL)


def test_to_self_maps_either_side() -> None:
    assert to_self(ADDED, None, obj("a")) == {"ns/a"}
    assert to_self(DELETED, obj("a"), None) == {"ns/a"}


def test_an_owner_reference_beats_the_label() -> None:
    assert to_cluster(ADDED, None, obj("p", owner="real", label="stale")) == {"ns/real"}


def test_the_label_counts_without_an_owner_reference() -> None:
    assert to_cluster(ADDED, None, obj("p", label="tooled")) == {"ns/tooled"}


def test_only_a_controller_reference_of_the_kind_counts() -> None:
    not_controller = obj("p")
    not_controller["metadata"]["ownerReferences"] = [
        {"kind": "EtcdCluster", "name": "x", "controller": False},
        {"kind": "ReplicaSet", "name": "y", "controller": True},
    ]
    assert to_cluster(ADDED, None, not_controller) == set()
    assert to_owner("EtcdCluster")(ADDED, None, obj("p", label="tooled")) == set()  # no label


def test_a_move_between_owners_reaches_both() -> None:
    old, new = obj("p", owner="from"), obj("p", owner="to")
    assert to_cluster(MODIFIED, old, new) == {"ns/from", "ns/to"}
    assert to_cluster(MODIFIED, obj("p", label="from"), obj("p")) == {"ns/from"}  # released
    assert to_cluster(DELETED, old, None) == {"ns/from"}


def test_to_referrers_reads_the_keys_from_an_index() -> None:
    mgr = Manager(None, namespace="ns")  # type: ignore[arg-type]  # no I/O here

    def secrets_used(pod: Obj) -> list[str]:
        names = pod["metadata"].get("annotations", {}).get("secrets", "")
        return [f"ns/{s}" for s in names.split(",") if s]

    mgr.add_index(PODS, "secret", secrets_used)
    mgr.informer_for(PODS).apply_list(
        [
            obj("a", annotations={"secrets": "tls,ca"}),
            obj("b", annotations={"secrets": "ca"}),
            obj("c"),
        ],
        "1",
    )
    mapper = to_referrers(mgr.cache, PODS, "secret")  # for events on Secrets
    assert mapper(MODIFIED, obj("ca"), obj("ca")) == {"ns/a", "ns/b"}
    assert mapper(DELETED, obj("tls"), None) == {"ns/a"}
    assert mapper(ADDED, None, obj("unused")) == set()


def test_any_object_looks_at_both_sides() -> None:
    labelled = any_object(lambda o: OWNER_LABEL in o["metadata"].get("labels", {}))
    assert labelled(MODIFIED, obj("p", label="c"), obj("p"))  # leaving scope still counts
    assert labelled(ADDED, None, obj("p", label="c"))
    assert not labelled(DELETED, obj("p"), None)
