"""The reconcile contract every controller implements.

Reconciliation is level-based: a reconciler gets only a key (`namespace/name`), reads the
current state from the cache, computes the one next action, applies it and returns; the
manager calls it again on the next event, or when the Result asks for a requeue. Raising an
ordinary exception retries with rate-limited back-off; TerminalError is logged, not retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

from controller.runtime.store import join_key, split_key


@dataclass(frozen=True)
class Result:
    """requeue: again soon, rate-limited; requeue_after: again in that many seconds."""

    requeue: bool = False
    requeue_after: float | None = None


class TerminalError(Exception):
    """An error retrying cannot fix (e.g. an invalid spec): reported once, not requeued."""


class Request(NamedTuple):
    """A key taken apart; reconcilers receive the key string and may parse it with this."""

    namespace: str | None
    name: str

    @classmethod
    def parse(cls, key: str) -> Request:
        ns, name = split_key(key)
        return cls(ns, name)

    @property
    def key(self) -> str:
        return join_key(self.namespace, self.name)


class Reconciler(Protocol):
    """One controller's logic. `name` labels its queue, workers, logs and metrics."""

    name: str

    async def reconcile(self, key: str) -> Result: ...
