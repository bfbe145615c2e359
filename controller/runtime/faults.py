"""Named fault points in the membership steps, for crash-safety tests and the chaos suite.

`ETCD_OPERATOR_FAULTS=after-member-add:crash,after-pod-create:error` makes the executor, on
reaching that point, exit the process at once (`crash`: os._exit(1), no cleanup, as a SIGKILL
would) or raise InjectedFault (`error`: an ordinary failed reconcile). Unset, it costs nothing.
Points are named where they sit (the EtcdCluster executor: before-member-add,
after-member-add, after-seed-pod-create, after-pod-create, after-member-promote,
after-member-remove, after-pod-delete, after-member-stop, after-member-restart,
after-leader-move; its reconciler: after-operation-record). In-process tests (the
simulated world) use `injected({...})` instead of the environment.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

ENV = "ETCD_OPERATOR_FAULTS"
log = logging.getLogger(__name__)


class InjectedFault(Exception):
    """Raised at a fault point configured with `error`."""


def parse(spec: str) -> dict[str, str]:
    """`point:mode,point:mode` → {point: mode}; a bare point means crash."""
    faults = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        point, _, mode = item.partition(":")
        faults[point] = mode or "crash"
    return faults


_injected: Mapping[str, str] | None = None


@contextmanager
def injected(faults: Mapping[str, str]) -> Iterator[None]:
    """Within the block, these faults ({point: mode}) replace the environment's."""
    global _injected
    before, _injected = _injected, dict(faults)
    try:
        yield
    finally:
        _injected = before


def fault_point(name: str) -> None:
    faults = _injected if _injected is not None else parse(os.environ.get(ENV, ""))
    mode = faults.get(name)
    if mode is None:
        return
    if mode == "crash":
        log.error("fault injected: crashing at %s", name)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(1)
    raise InjectedFault(f"fault injected at {name}")
