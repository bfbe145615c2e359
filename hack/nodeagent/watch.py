"""A minimal list-then-watch loop for the node agent's own needs.

The operator has a full informer in controller/; the agent only needs "current state, then
every change", and restarts from a fresh list on any error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from controller.clients.kube import ApiError, KubeClient, Obj, Resource

log = logging.getLogger(__name__)
K = TypeVar("K")


@dataclass
class Change:
    """SYNC carries the full list (`objects`); ADDED/MODIFIED/DELETED carry one `obj`."""

    type: str
    obj: Obj = field(default_factory=dict)
    objects: list[Obj] = field(default_factory=list)

    def apply(self, store: dict[K, Obj], key: Callable[[Obj], K]) -> dict[K, Obj]:
        """The store after this change: a new one on SYNC, else `store` with `obj` set/removed."""
        if self.type == "SYNC":
            return {key(o): o for o in self.objects}
        if self.type == "DELETED":
            store.pop(key(self.obj), None)
        else:
            store[key(self.obj)] = self.obj
        return store


async def list_and_watch(
    kube: KubeClient,
    res: Resource,
    namespace: str | None = None,
    *,
    field_selector: str | None = None,
    label_selector: str | None = None,
) -> AsyncIterator[Change]:
    """Yields a SYNC of everything, then each change; after a failure, a new SYNC."""
    backoff = 0.5
    while True:
        try:
            listed = await kube.list(
                res, namespace, field_selector=field_selector, label_selector=label_selector
            )
            yield Change("SYNC", objects=list(listed.get("items", [])))
            rv = listed["metadata"]["resourceVersion"]
            backoff = 0.5
            while True:
                async for event in kube.watch(
                    res,
                    namespace,
                    resource_version=rv,
                    timeout_seconds=300,
                    field_selector=field_selector,
                    label_selector=label_selector,
                    read_timeout=90,
                ):
                    kind: Any = event.get("type")
                    obj: Obj = event.get("object") or {}
                    if kind == "ERROR":
                        raise ApiError(int(obj.get("code", 500)), obj)
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if kind != "BOOKMARK":
                        yield Change(str(kind), obj=obj)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure: back off, then relist
            log.info("watch %s restarting after %s", res.plural, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
