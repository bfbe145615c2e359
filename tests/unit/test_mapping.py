"""Event mapping: which EtcdCluster keys an event enqueues."""

from __future__ import annotations

from typing import Any

from controller.common.ownership import to_owning_cluster
from controller.common.scope import is_managed
from controller.runtime.handler import any_object, to_self
from controller.runtime.store import ADDED, DELETED, MODIFIED, Obj


def obj(name: str, ns: str = "ns", *, label: str | None = None, owner: str | None = None) -> Obj:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if label:
        meta["labels"] = {"etcd_cluster": label, "app": "etcd"}
    if owner:
        ref = {"apiVersion": "etcd.database.coreos.com/v1beta2", "kind": "EtcdCluster"}
        meta["ownerReferences"] = [{**ref, "name": owner, "uid": "1", "controller": True}]
    return {"metadata": meta}


def test_owned_object_maps_to_controller_owner() -> None:
    assert to_owning_cluster(ADDED, None, obj("example-abc", owner="example")) == {"ns/example"}


def test_label_is_the_fallback() -> None:
    assert to_owning_cluster(ADDED, None, obj("example-abc", label="example")) == {"ns/example"}


def test_owner_reference_wins_over_label() -> None:
    both = obj("p", label="from-label", owner="from-owner")
    assert to_owning_cluster(ADDED, None, both) == {"ns/from-owner"}


def test_unowned_object_maps_to_nothing() -> None:
    assert to_owning_cluster(ADDED, None, obj("random")) == set()


def test_owner_change_enqueues_both_owners() -> None:
    old, new = obj("p", label="a"), obj("p", label="b")
    assert to_owning_cluster(MODIFIED, old, new) == {"ns/a", "ns/b"}


def test_update_with_same_owner_enqueues_once() -> None:
    assert to_owning_cluster(MODIFIED, obj("p", owner="a"), obj("p", owner="a")) == {"ns/a"}


def test_delete_maps_through_the_old_object() -> None:
    assert to_owning_cluster(DELETED, obj("p", label="a"), None) == {"ns/a"}


def test_custom_resources_map_to_themselves() -> None:
    assert to_self(ADDED, None, obj("example")) == {"ns/example"}
    assert to_self(MODIFIED, obj("example"), obj("example")) == {"ns/example"}
    assert to_self(DELETED, obj("example"), None) == {"ns/example"}


def test_scope_predicate_looks_at_both_sides() -> None:
    namespaced = any_object(lambda o: is_managed(o, cluster_wide=False))
    plain = obj("c")
    annotated = obj("c")
    annotated["metadata"]["annotations"] = {"etcd.database.coreos.com/scope": "clusterwide"}
    assert namespaced(ADDED, None, plain)
    assert not namespaced(ADDED, None, annotated)
    assert namespaced(MODIFIED, plain, annotated)  # leaving scope still reaches the reconciler
