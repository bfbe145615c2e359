"""Event mapping: which reconcile keys an informer event should enqueue. Pure functions.

A mapper gets the handler's (event type, old, new) and returns `namespace/name` keys:
- `to_self`: the object's own key (a reconciler's primary kind);
- `to_owner(kind, label)`: the key of the object's controller owner of `kind` (a label
  naming the owner counts too, for objects made by tools that do not set ownerReferences);
- `to_referrers(cache, res, index)`: the keys of `res` objects that name this one, looked
  up in an index of `res` (e.g. every EtcdCluster using a rotated Secret).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from controller.runtime.store import Obj, join_key, object_key

Mapper = Callable[[str, Obj | None, Obj | None], set[str]]
Predicate = Callable[[str, Obj | None, Obj | None], bool]


def to_self(event_type: str, old: Obj | None, new: Obj | None) -> set[str]:
    """The object's own key."""
    obj = new if new is not None else old
    return {object_key(obj)} if obj is not None else set()


def owner_key(obj: Mapping[str, Any] | None, kind: str, label: str | None = None) -> str | None:
    """`namespace/name` of obj's controller owner of `kind`, else of the object its `label`
    names (same namespace), else None."""
    if not obj:
        return None
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or ""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == kind and ref.get("name"):
            return join_key(ns, str(ref["name"]))
    value = (meta.get("labels") or {}).get(label) if label else None
    return join_key(ns, str(value)) if value else None


def to_owner(kind: str, label: str | None = None) -> Mapper:
    """The owner's key; both owners when an update moved the object from one to another."""

    def mapper(event_type: str, old: Obj | None, new: Obj | None) -> set[str]:
        return {key for key in (owner_key(old, kind, label), owner_key(new, kind, label)) if key}

    return mapper


class IndexReader(Protocol):
    def index_keys(self, res: Any, index: str, value: str) -> list[str]: ...

    def synced(self, res: Any) -> bool: ...


def to_referrers(cache: IndexReader, res: Any, index: str) -> Mapper:
    """Keys of the `res` objects whose `index` lists this object's key."""

    def mapper(event_type: str, old: Obj | None, new: Obj | None) -> set[str]:
        obj = new if new is not None else old
        if obj is None or not cache.synced(res):
            return set()  # the referrers' own first list enqueues every one of them
        return set(cache.index_keys(res, index, object_key(obj)))

    return mapper


def any_object(predicate: Callable[[Obj], bool]) -> Predicate:
    """An event predicate true when old or new (whichever exist) satisfies `predicate`.

    Looking at both sides means an update that takes an object out of scope still
    reaches the reconciler, which then sees the new state and lets go.
    """

    def check(event_type: str, old: Obj | None, new: Obj | None) -> bool:
        return any(predicate(obj) for obj in (old, new) if obj is not None)

    return check
