"""Status writes that cannot lose an update.

A status is computed from a cached copy of the object. Writing it unconditionally could
overwrite what another replica or an earlier pass wrote since that copy was cached — a
recorded decision among it. So every write carries the resourceVersion it was computed
from (a merge patch with metadata.resourceVersion is a precondition: the API answers 409
when the object has moved on), and a conflict makes the reconciler observe again. A write
that went through is told to the cache the reconciler reads, so its next pass reads it back
even before the watch delivers it (Cache.wrote: read-your-writes).
"""

from __future__ import annotations

from typing import Any

from controller.clients.kube import ApiError, KubeClient, Resource
from controller.runtime.cache import Cache
from controller.runtime.store import Obj, join_key


class StaleObject(Exception):
    """The object changed since it was read: observe again, then decide again."""


async def patch_status(
    kube: KubeClient,
    res: Resource,
    namespace: str | None,
    name: str,
    resource_version: str | None,
    status: dict[str, Any],
    *,
    cache: Cache | None = None,
) -> Obj:
    """Merge-patches `status` (None values remove fields) if the object is still at
    `resource_version`; raises StaleObject if it is not (or is gone). The written object goes
    to `cache` too (the reconciler's own), and is returned."""
    body: Obj = {"status": status}
    if resource_version:
        body["metadata"] = {"resourceVersion": resource_version}
    try:
        written = await kube.patch(res, name, body, namespace, sub="status")
    except ApiError as exc:
        if exc.conflict or exc.not_found:
            raise StaleObject(f"{res.kind} {name}: {exc.message}") from exc
        raise
    if cache is not None:
        cache.wrote(res, join_key(namespace, name), resource_version, written)
    return written
