"""Which Secrets a CR names, as a cache index: a changed Secret enqueues every CR using it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from controller.runtime.store import Obj, join_key

BY_SECRET = "secret"


def secret_index(names: Callable[[Obj], Iterable[str | None]]) -> Callable[[Obj], list[str]]:
    """An index function: `namespace/secret` for every Secret `names(obj)` lists."""

    def index(obj: Obj) -> list[str]:
        ns = (obj.get("metadata") or {}).get("namespace")
        return sorted({join_key(ns, name) for name in names(obj) if name})

    return index
