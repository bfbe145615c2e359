"""Status writes that cannot lose an update.

A status is computed from a cached copy of the object. Writing it unconditionally could
overwrite what another replica or an earlier pass wrote since that copy was cached — a
recorded decision among it. So every write carries the resourceVersion it was computed
from (a merge patch with metadata.resourceVersion is a precondition: the API answers 409
when the object has moved on), and a conflict makes the reconciler observe again.
"""

from __future__ import annotations

from typing import Any

from controller.clients.kube import ApiError, KubeClient, Resource
from controller.runtime.store import Obj


class StaleObject(Exception):
    """The object changed since it was read: observe again, then decide again."""


async def patch_status(
    kube: KubeClient,
    res: Resource,
    namespace: str | None,
    name: str,
    resource_version: str | None,
    status: dict[str, Any],
) -> Obj:
    """Merge-patches `status` (None values remove fields) if the object is still at
    `resource_version`; raises StaleObject if it is not (or is gone)."""
    body: Obj = {"status": status}
    if resource_version:
        body["metadata"] = {"resourceVersion": resource_version}
    try:
        return await kube.patch(res, name, body, namespace, sub="status")
    except ApiError as exc:
        if exc.conflict or exc.not_found:
            raise StaleObject(f"{res.kind} {name}: {exc.message}") from exc
        raise
