"""What reconcilers read: the informers' stores, as deep copies (mutate freely).

Reads are synchronous and never touch the API. They are also safe: a kind the manager does
not watch raises NotWatched (an empty store would read as "nothing exists", and a planner
may act on that — e.g. bootstrap a cluster over volumes it could not see), and a kind whose
informer has not finished its first list raises NotSynced, an ordinary error the work
queue retries with back-off. Workers start only after every informer declared before
`Manager.run` has synced, so in practice only kinds registered later can be unsynced.

Read-your-writes: a reconciler that wrote an object tells the cache (`wrote`), and while the
watch still shows a version from before that write (or before the writes it followed), `get`
answers with what the write returned (RecentWrites). The next pass then sees its own status
(a decision it just recorded, say) instead of computing from an older copy, whose write
would only conflict.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Protocol

from controller.clients.kube import Resource
from controller.runtime.informer import Informer
from controller.runtime.store import BY_NAMESPACE, Obj, Store

Objs = list[Obj]  # spelled once here: inside Cache, `list` is the method
Keys = list[str]


class NotWatched(LookupError):
    """A read of a kind no controller declared: a programming error, never an empty answer."""


class NotSynced(RuntimeError):
    """A read before the kind's informer applied its first list: retry later."""


class InformerSource(Protocol):
    def watched_informer(self, res: Resource) -> Informer | None: ...


class Cache:
    def __init__(self, source: InformerSource):
        self._source = source
        self._written = RecentWrites()

    def _store(self, res: Resource) -> Store:
        informer = self._source.watched_informer(res)
        if informer is None:
            raise NotWatched(f"{res.plural} is not watched by this manager; declare it in setup()")
        if not informer.has_synced:
            raise NotSynced(f"{res.plural}: the cache has not synced yet")
        return informer.store

    def get(self, res: Resource, key: str) -> Obj | None:
        """The cached object `namespace/name` (or `name` if cluster-scoped), or None; or what
        this process last wrote of it, while the watch still shows the version before."""
        obj = self._written.read(res, key, self._store(res).get(key))
        return copy.deepcopy(obj) if obj is not None else None

    def wrote(self, res: Resource, key: str, before: str | None, after: Obj) -> None:
        """A write of `key` that started from resourceVersion `before` returned `after`."""
        self._written.wrote(res, key, before, after)

    def list(
        self, res: Resource, namespace: str | None = None, labels: Mapping[str, str] | None = None
    ) -> Objs:
        """Cached objects, optionally of one namespace and having all the given labels."""
        store = self._store(res)
        objs = store.by_index(BY_NAMESPACE, namespace) if namespace else store.items()
        if labels:
            objs = [o for o in objs if _has_labels(o, labels)]
        return copy.deepcopy(objs)

    def by_index(self, res: Resource, index: str, value: str) -> Objs:
        return copy.deepcopy(self._store(res).by_index(index, value))

    def index_keys(self, res: Resource, index: str, value: str) -> Keys:
        """Keys only (no copies): what event mappers use."""
        return self._store(res).index_keys(index, value)

    def synced(self, res: Resource) -> bool:
        informer = self._source.watched_informer(res)
        return informer is not None and informer.has_synced


class RecentWrites:
    """The objects this process wrote, each with the resourceVersions its write superseded:
    the one it started from, and those the writes before it (read back from here) started
    from. ResourceVersions are opaque, so "older" is only ever known this way."""

    def __init__(self) -> None:
        self._written: dict[tuple[Resource, str], tuple[frozenset[str], Obj]] = {}

    def wrote(self, res: Resource, key: str, before: str | None, after: Obj) -> None:
        if not before or _resource_version(after) in (None, before):
            return
        older, last = self._written.get((res, key), (frozenset(), None))
        if last is None or _resource_version(last) != before:
            older = frozenset()  # a write from elsewhere's version: its own chain
        self._written[(res, key)] = (older | {before}, copy.deepcopy(after))

    def read(self, res: Resource, key: str, cached: Obj | None) -> Obj | None:
        """`cached`, or the write that superseded it."""
        entry = self._written.get((res, key))
        if entry is None:
            return cached
        older, last = entry
        if cached is not None and _resource_version(cached) in older:
            return last
        del self._written[(res, key)]  # the watch caught up (or it went): the store is truth
        return cached


def _resource_version(obj: Obj) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion")


def _has_labels(obj: Obj, labels: Mapping[str, str]) -> bool:
    have = (obj.get("metadata") or {}).get("labels") or {}
    return all(have.get(k) == v for k, v in labels.items())
