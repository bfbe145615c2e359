"""Named fault points in the membership steps, for crash-safety tests and the chaos suite.

`ETCD_OPERATOR_FAULTS=after-member-add:crash,after-pod-create:error` makes the executor, on
reaching that point, exit the process at once (`crash`: os._exit(1), no cleanup, as a SIGKILL
would) or raise InjectedFault (`error`: an ordinary failed reconcile). Unset, it costs nothing.
Points: before-member-add, after-member-add, after-seed-pod-create, after-pod-create,
after-member-promote, after-member-remove, after-pod-delete.
"""

from __future__ import annotations

import logging
import os

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


def fault_point(name: str) -> None:
    mode = parse(os.environ.get(ENV, "")).get(name)
    if mode is None:
        return
    if mode == "crash":
        log.error("fault injected: crashing at %s", name)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(1)
    raise InjectedFault(f"fault injected at {name}")
