"""Runtime behaviours that mutants showed no test pinned down: every informer handler sees
every event even when an earlier one fails, and SIGTERM drains the reconcile in flight."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from controller import cmd
from controller.common.resources import PODS
from controller.options import parse_options
from controller.runtime.informer import Informer
from controller.runtime.manager import Manager
from controller.runtime.reconcile import Result
from controller.runtime.store import ADDED, DELETED, MODIFIED, Obj


def pod(name: str, rv: str) -> Obj:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}, "spec": {}}


def test_a_failing_first_handler_does_not_stop_later_handlers_or_later_events() -> None:
    informer = Informer(None, PODS, "ns")  # type: ignore[arg-type]  # driven by hand, no I/O
    seen: list[tuple[str, str]] = []
    failures: list[str] = []

    def broken(kind: str, old: Obj | None, new: Obj | None) -> None:
        failures.append(kind)
        raise RuntimeError("boom")

    def recording(kind: str, old: Obj | None, new: Obj | None) -> None:
        seen.append((kind, ((new or old) or {})["metadata"]["name"]))

    informer.add_handler(broken)  # registered first: it runs before the recording one
    informer.add_handler(recording)
    informer.apply_list([pod("a", "1"), pod("b", "1")], "1")
    informer.apply_event({"type": MODIFIED, "object": pod("a", "2")})
    informer.apply_event({"type": DELETED, "object": pod("b", "3")})
    assert sorted(seen[:2]) == [(ADDED, "a"), (ADDED, "b")]
    assert seen[2:] == [(MODIFIED, "a"), (DELETED, "b")]
    assert len(failures) == 4  # the broken handler was called for every event, too
    assert "ns/a" in informer.store and "ns/b" not in informer.store
    late: list[str] = []
    informer.add_handler(lambda kind, old, new: late.append(kind))  # replay after a failure
    assert late == [ADDED]


class Slow:
    """A reconcile that holds its worker until released."""

    name = "mutation-sigterm"

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.finished: list[str] = []
        self.cancelled: list[str] = []

    async def reconcile(self, key: str) -> Result:
        self.entered.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        self.finished.append(key)
        return Result()


class ClosedKube:
    closed = False

    async def close(self) -> None:
        self.closed = True


async def test_sigterm_drains_the_reconcile_in_flight_and_exits_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube = ClosedKube()
    rec = Slow()
    mgr = Manager(None, namespace="ns")  # type: ignore[arg-type]  # no informers: no I/O
    ctrl = mgr.add_controller(rec)
    ctrl.queue.add("ns/a")

    async def connect(kubeconfig: Any) -> ClosedKube:
        return kube

    monkeypatch.setattr(cmd.KubeClient, "connect", staticmethod(connect))
    monkeypatch.setattr(cmd, "instrument", lambda *a, **k: None)
    monkeypatch.setattr(cmd, "build_manager", lambda kube, opts: mgr)
    monkeypatch.setattr(cmd, "build_servers", lambda opts, mgr: [])

    run = asyncio.create_task(cmd.run(parse_options([], {}, tuple(cmd.CONTROLLERS))))
    await asyncio.wait_for(rec.entered.wait(), 10)
    os.kill(os.getpid(), signal.SIGTERM)  # handled by the loop: mgr.stop, not the default
    for _ in range(100):
        await asyncio.sleep(0)
    assert not run.done() and rec.cancelled == []  # waiting for the pass in flight
    rec.release.set()
    assert await asyncio.wait_for(run, 10) == 0
    assert rec.finished == ["ns/a"] and rec.cancelled == []
    assert kube.closed and not mgr.workers_started
    # the handler is removed again: the next SIGTERM would be the default one
    assert not asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
