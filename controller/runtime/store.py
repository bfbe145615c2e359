"""The informer's store: objects by `namespace/name`, with pluggable secondary indexes.

Everything here is pure and synchronous so it can be tested without an API server. The
informer feeds the store (one object per event, or a whole list on (re)list) and gets back
the deltas it must deliver to handlers; reconcilers read it through
`controller.runtime.cache.Cache`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

# An index function names the buckets an object belongs to (zero, one or several).
IndexFunc = Callable[[Obj], Iterable[str]]

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"

BY_NAMESPACE = "namespace"


def join_key(namespace: str | None, name: str) -> str:
    """`namespace/name`, or `name` when there is no namespace (cluster-scoped)."""
    return f"{namespace}/{name}" if namespace else name


def object_key(obj: Mapping[str, Any]) -> str:
    """`namespace/name` for namespaced objects, `name` for cluster-scoped ones."""
    meta = obj.get("metadata") or {}
    return join_key(meta.get("namespace"), str(meta.get("name", "")))


def split_key(key: str) -> tuple[str | None, str]:
    """The inverse of join_key and object_key: (namespace or None, name)."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def resource_version(obj: Mapping[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion", ""))


def strip_managed_fields(obj: Obj) -> Obj:
    """Drops metadata.managedFields: often half an object's size, and never read here."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def by_namespace(obj: Obj) -> list[str]:
    ns = (obj.get("metadata") or {}).get("namespace")
    return [ns] if ns else []


DEFAULT_INDEXERS: Mapping[str, IndexFunc] = {
    BY_NAMESPACE: by_namespace,
}


@dataclass(frozen=True)
class Delta:
    """One change a handler must see: ADDED (old None), MODIFIED, or DELETED (new None)."""

    type: str
    old: Obj | None
    new: Obj | None


class Store:
    """Objects by key plus, per index name, bucket value → keys."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None):
        self._indexers = dict(DEFAULT_INDEXERS if indexers is None else indexers)
        self._items: dict[str, Obj] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    @property
    def index_names(self) -> list[str]:
        return list(self._indexers)

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def keys(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[Obj]:
        return list(self._items.values())

    def add_index(self, name: str, func: IndexFunc) -> None:
        """Adds (or replaces) an index; objects already stored are indexed at once."""
        if name in self._indexers:
            del self._indexers[name]
        self._indexers[name] = func
        self._indexes[name] = {}
        for key, obj in self._items.items():
            for value in func(obj):
                self._indexes[name].setdefault(value, set()).add(key)

    def index_keys(self, index: str, value: str) -> list[str]:
        if index not in self._indexes:
            raise KeyError(f"no index {index!r} (have {sorted(self._indexes)})")
        return sorted(self._indexes[index].get(value, ()))

    def by_index(self, index: str, value: str) -> list[Obj]:
        return [self._items[k] for k in self.index_keys(index, value)]

    def upsert(self, obj: Obj) -> Obj | None:
        """Stores obj; returns the object it replaced (None if new)."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        return old

    def delete(self, key: str) -> Obj | None:
        """Removes key; returns the last known object (None if it was not there)."""
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def replace(self, objs: Iterable[Obj]) -> list[Delta]:
        """Makes the store equal to a fresh list; returns what changed.

        Objects that vanished come back as DELETED deltas carrying the last known object
        (tombstones): their delete events were missed while the watch was down. Objects
        whose resourceVersion did not change produce no delta.
        """
        deltas: list[Delta] = []
        seen: set[str] = set()
        for obj in objs:
            key = object_key(obj)
            seen.add(key)
            old = self._items.get(key)
            if old is not None and resource_version(old) == resource_version(obj):
                continue
            self.upsert(obj)
            deltas.append(Delta(ADDED if old is None else MODIFIED, old, obj))
        for key in [k for k in self._items if k not in seen]:
            deltas.append(Delta(DELETED, self.delete(key), None))
        return deltas

    def _index(self, key: str, obj: Obj) -> None:
        for name, func in self._indexers.items():
            buckets = self._indexes[name]
            for value in func(obj):
                buckets.setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, func in self._indexers.items():
            buckets = self._indexes[name]
            for value in func(obj):
                members = buckets.get(value)
                if members is not None:
                    members.discard(key)
                    if not members:
                        del buckets[value]
