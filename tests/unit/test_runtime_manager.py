"""A running Manager: readiness, draining on stop, standbys, and long tasks that end with
leadership. The API is a stand-in with just what the manager calls (a Lease with the API's
optimistic concurrency, lists the test releases, silent watches); time is a FakeClock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from controller.clients.kube import CONFIGMAPS, LEASES, ApiError, Resource
from controller.cmd import build_servers
from controller.options import parse_options
from controller.runtime.clock import FakeClock, settle_loop
from controller.runtime.leader import LeaderElectionConfig, LeadershipLost
from controller.runtime.manager import Controller, Manager
from controller.runtime.reconcile import Result
from controller.runtime.store import Obj

LEASE = "test-lease"
ELECTION = LeaderElectionConfig(LEASE, "ns", "me", 15.0, 10.0, 2.0)


class StandInApi:
    def __init__(self) -> None:
        self.leases: dict[str, Obj] = {}
        self.version = 0
        self.lease_reads = 0
        self.lists_waiting = 0
        self.lists_answer = asyncio.Event()
        self.lists_answer.set()

    def put_lease(self, lease: Obj) -> Obj:
        self.version += 1
        lease["metadata"]["resourceVersion"] = str(self.version)
        self.leases[lease["metadata"]["name"]] = lease
        return lease

    def hold_lease(self, holder: str) -> None:
        """Another replica writes itself into the Lease (a takeover)."""
        spec = {"holderIdentity": holder, "leaseDurationSeconds": 15}
        self.put_lease({"metadata": {"name": LEASE, "namespace": "ns"}, "spec": spec})

    def holder(self) -> str:
        return str(self.leases[LEASE]["spec"]["holderIdentity"])

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> Obj:
        assert res == LEASES
        self.lease_reads += 1
        if name not in self.leases:
            raise ApiError(404, {"reason": "NotFound"})
        return self.leases[name]

    async def create(self, res: Resource, obj: Obj, namespace: str | None = None) -> Obj:
        if obj["metadata"]["name"] in self.leases:
            raise ApiError(409, {"reason": "AlreadyExists"})
        return self.put_lease(obj)

    async def replace(self, res: Resource, obj: Obj, sub: str = "") -> Obj:
        current = self.leases.get(obj["metadata"]["name"])
        wanted = obj["metadata"].get("resourceVersion")
        if current is None or current["metadata"]["resourceVersion"] != wanted:
            raise ApiError(409, {"reason": "Conflict"})
        return self.put_lease(obj)

    async def list(self, res: Resource, namespace: str | None = None, **_: Any) -> Obj:
        self.lists_waiting += 1
        await self.lists_answer.wait()
        self.lists_waiting -= 1
        return {"items": [], "metadata": {"resourceVersion": "1"}}

    async def watch(self, res: Resource, *_: Any, **__: Any) -> AsyncIterator[Obj]:
        await asyncio.Event().wait()  # silent until cancelled
        yield {}


class Blocking:
    """A reconciler whose pass for a key waits until released; records what happened."""

    name = "blocking"

    def __init__(self) -> None:
        self.entered: list[str] = []
        self.finished: list[str] = []
        self.cancelled: list[str] = []
        self.release = asyncio.Event()
        self.on_pass: Callable[[str], object] = lambda key: None

    async def reconcile(self, key: str) -> Result:
        self.entered.append(key)
        self.on_pass(key)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        self.finished.append(key)
        return Result()


class LongWork:
    """A long task that runs until cancelled, noting that it was."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def __call__(self) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


async def until(condition: Callable[[], bool], steps: int = 10_000) -> None:
    """Lets the loop run until `condition` holds; no time passes on the FakeClock."""
    for _ in range(steps):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


def setup(
    api: StandInApi, election: LeaderElectionConfig | None = None
) -> tuple[Manager, Controller, Blocking, FakeClock]:
    clock = FakeClock()
    mgr = Manager(api, namespace="ns", leader_election=election, clock=clock)  # type: ignore[arg-type]
    rec = Blocking()
    ctrl = mgr.add_controller(rec)
    ctrl.queue.add("ns/a")  # work waiting for the workers
    return mgr, ctrl, rec, clock


async def stop(mgr: Manager, run: asyncio.Task[None]) -> None:
    mgr.stop()
    await asyncio.wait_for(asyncio.gather(run, return_exceptions=True), 30)


async def test_stop_drains_a_reconcile_in_flight() -> None:
    mgr, _, rec, _ = setup(StandInApi())
    run = asyncio.create_task(mgr.run())
    await until(lambda: rec.entered == ["ns/a"])
    mgr.stop()
    await settle_loop(200)
    assert not run.done() and rec.cancelled == []  # the drain waits for the pass
    rec.release.set()
    await asyncio.wait_for(run, 30)
    assert rec.finished == ["ns/a"] and rec.cancelled == []
    assert not mgr.workers_started


async def test_stop_cancels_long_tasks() -> None:
    mgr, ctrl, rec, _ = setup(StandInApi())
    work = LongWork()
    rec.on_pass = lambda key: ctrl.ensure_task(f"long {key}", key, work)
    rec.release.set()
    run = asyncio.create_task(mgr.run())
    await asyncio.wait_for(work.started.wait(), 30)
    await stop(mgr, run)
    assert work.cancelled.is_set() and mgr.tasks.running == []
    assert run.exception() is None


async def test_a_deposed_leader_cancels_its_tasks_and_raises_leadership_lost() -> None:
    api = StandInApi()
    mgr, ctrl, rec, clock = setup(api, ELECTION)
    work = LongWork()
    rec.on_pass = lambda key: ctrl.ensure_task(f"long {key}", key, work)
    rec.release.set()
    run = asyncio.create_task(mgr.run())
    try:
        await asyncio.wait_for(work.started.wait(), 30)
        assert mgr.is_leader and api.holder() == "me"
        api.hold_lease("usurper")  # our next renewal finds another holder
        await clock.run_for(ELECTION.retry_period + ELECTION.renew_deadline + 1)
        await until(run.done)
        assert isinstance(run.exception(), LeadershipLost)
        assert work.cancelled.is_set() and mgr.tasks.running == []
        assert not mgr.workers_started and not mgr.is_leader
        with pytest.raises(RuntimeError):  # no new long work on a deposed replica
            ctrl.ensure_task("late", "ns/a", LongWork())
    finally:
        await stop(mgr, run)


async def test_a_stopped_standby_exits_without_starting_workers() -> None:
    api = StandInApi()
    api.hold_lease("leader")
    mgr, _, rec, clock = setup(api, ELECTION)
    run = asyncio.create_task(mgr.run())
    await until(lambda: api.lease_reads >= 1)
    await clock.run_for(10)  # several tries, all within the holder's 15 s lease
    assert not mgr.is_leader
    mgr.stop()
    await asyncio.wait_for(run, 30)
    assert rec.entered == [] and not mgr.workers_started
    assert api.holder() == "leader"  # a standby releases nothing
    with pytest.raises(RuntimeError):
        mgr.tasks.ensure("x", LongWork(), owner="t")


async def test_not_ready_and_not_working_until_the_first_list() -> None:
    api = StandInApi()
    api.lists_answer.clear()
    mgr, _, rec, _ = setup(api)
    mgr.informer_for(CONFIGMAPS)
    opts = parse_options(["--metrics-bind-address", "0"], {}, ("cluster",))
    (server,) = build_servers(opts, mgr)
    readyz = server.routes["/readyz"]
    run = asyncio.create_task(mgr.run())
    await until(lambda: api.lists_waiting == 1)  # the informer asked for its first list
    await settle_loop()
    assert not mgr.synced and readyz()[0] == 503
    assert rec.entered == []  # workers wait for the caches
    api.lists_answer.set()
    await until(lambda: mgr.synced)
    assert readyz()[0] == 200
    await until(lambda: rec.entered == ["ns/a"])
    rec.release.set()
    await stop(mgr, run)


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="controller.runtime")
