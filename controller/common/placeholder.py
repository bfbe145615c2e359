"""A reconciler that validates its CR and logs it: what backup and restore run until their
issue lands (#10). It changes nothing, so running it is always safe."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from api import KubeObject
from controller.clients.kube import Resource
from controller.common.scope import is_managed
from controller.runtime.cache import Cache
from controller.runtime.reconcile import Result, TerminalError

log = logging.getLogger(__name__)


class ValidatingReconciler:
    def __init__(
        self, name: str, res: Resource, kind: type[KubeObject], cache: Cache, cluster_wide: bool
    ):
        self.name = name
        self.res = res
        self.kind = kind
        self.cache = cache
        self.cluster_wide = cluster_wide

    async def reconcile(self, key: str) -> Result:
        obj = self.cache.get(self.res, key)
        if obj is None or not is_managed(obj, self.cluster_wide):
            return Result()
        try:
            self.kind.model_validate(obj)
        except ValidationError as exc:
            raise TerminalError(f"invalid {self.res.kind} {key}: {exc}") from exc
        rv = obj["metadata"].get("resourceVersion")
        log.info("%s %s seen (not acted on yet)", self.res.kind, key, extra={"rv": rv})
        return Result()
