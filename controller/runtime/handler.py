"""Event mapping: which reconcile keys an informer event should enqueue. Pure functions.

A mapper gets the handler's (event type, old, new) and returns `namespace/name` keys. Pods,
PVCs and Services belong to their EtcdCluster (controller ownerReference, else the CoreOS
`etcd_cluster` label); the CRs themselves map to their own key.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.cache import Obj, object_key, owning_cluster

Mapper = Callable[[str, Obj | None, Obj | None], set[str]]
Predicate = Callable[[str, Obj | None, Obj | None], bool]


def to_self(event_type: str, old: Obj | None, new: Obj | None) -> set[str]:
    """EtcdCluster, EtcdBackup, EtcdRestore: the object's own key."""
    obj = new if new is not None else old
    return {object_key(obj)} if obj is not None else set()


def to_owning_cluster(event_type: str, old: Obj | None, new: Obj | None) -> set[str]:
    """The owning EtcdCluster's key; both owners when an update moved the object."""
    return {key for key in (owning_cluster(old), owning_cluster(new)) if key}


def any_object(predicate: Callable[[Obj], bool]) -> Predicate:
    """An event predicate true when old or new (whichever exist) satisfies `predicate`.

    Looking at both sides means an update that takes an object out of scope still
    reaches the reconciler, which then sees the new state and lets go.
    """

    def check(event_type: str, old: Obj | None, new: Obj | None) -> bool:
        return any(predicate(obj) for obj in (old, new) if obj is not None)

    return check
