"""Long work across a leader failover, on the real API server.

Two Managers (as two operator replicas would be) elect a leader on one Lease. A small
reconciler starts a long task per ConfigMap with `controller.ensure_task`; the task counts
step by step and records every step in the ConfigMap (resourceVersion precondition), so the
ConfigMap's data is the durable history of who counted what. The leader's Lease is taken
from it: its task must be cancelled (it stops counting) and the other replica, once it
leads, must resume from the recorded count (not from zero) and finish.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from controller.clients.kube import CONFIGMAPS, LEASES, ApiError, KubeClient
from controller.runtime.apiclient import instrument
from controller.runtime.leader import LeaderElectionConfig, LeadershipLost
from controller.runtime.manager import Manager
from controller.runtime.reconcile import Result
from controller.runtime.store import Obj, resource_version, split_key
from controller.runtime.tasks import TaskState

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LEASE = "task-failover-test"
# As test_operator_process: a renew deadline that a CPU-starved leader on 2 loaded cores
# still meets; the deposed leader gives up within retry + deadline = 5 s, before the other
# may take over (lease duration 6 s after it saw the Lease change).
LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 6.0, 4.0, 1.0
SELECTOR = "test=task-failover"
STEPS = 60
STEP_PAUSE = 0.25  # the "work" of one step


def progress(cm: Obj) -> int:
    return int((cm.get("data") or {}).get("progress") or 0)


def history(cm: Obj) -> list[tuple[str, int]]:
    """(replica, step) for every recorded step, in order."""
    entries = ((cm.get("data") or {}).get("log") or "").split()
    return [(who, int(n)) for who, n in (e.split(":") for e in entries)]


class Counter:
    """The test reconciler: ensures the counting task of every ConfigMap not yet counted."""

    name = "counter"

    def __init__(self, mgr: Manager, identity: str):
        self.mgr, self.identity = mgr, identity
        self.controller = mgr.add_controller(self).watch(CONFIGMAPS)
        self.cancelled = asyncio.Event()

    async def reconcile(self, key: str) -> Result:
        cm = self.mgr.cache.get(CONFIGMAPS, key)
        if cm is None or progress(cm) >= STEPS:
            return Result()
        task = f"count {key}"
        status = self.controller.ensure_task(task, key, lambda: self.count(key))
        if status.state is TaskState.FAILED:  # e.g. the API failed: start over from the record
            self.mgr.tasks.forget(task)
            return Result(requeue=True)
        return Result()

    async def count(self, key: str) -> int:
        ns, name = split_key(key)
        try:
            cm = await self.mgr.kube.get(CONFIGMAPS, name, ns)
            while (done := progress(cm)) < STEPS:
                await asyncio.sleep(STEP_PAUSE)
                log = (cm.get("data") or {}).get("log") or ""
                step = {"progress": str(done + 1), "log": f"{log}{self.identity}:{done + 1} "}
                patch = {"metadata": {"resourceVersion": resource_version(cm)}, "data": step}
                try:
                    cm = await self.mgr.kube.patch(CONFIGMAPS, name, patch, ns)
                except ApiError as exc:
                    if not exc.conflict:
                        raise
                    cm = await self.mgr.kube.get(CONFIGMAPS, name, ns)  # observe again
            return done
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


class Replica:
    def __init__(self, kube: KubeClient, namespace: str, identity: str):
        self.identity, self.kube = identity, kube
        election = LeaderElectionConfig(
            LEASE, namespace, identity, LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD
        )
        self.mgr = Manager(kube, namespace=namespace, leader_election=election)
        self.mgr.informer_for(CONFIGMAPS, label_selector=SELECTOR)
        self.counter = Counter(self.mgr, identity)
        self.run = asyncio.create_task(self.mgr.run(), name=f"manager {identity}")

    async def close(self) -> None:
        self.mgr.stop()
        await asyncio.wait_for(asyncio.gather(self.run, return_exceptions=True), 60)
        await self.kube.close()


async def eventually(check: Callable[[], Any], timeout: float, what: str) -> float:
    """Polls until `check` (plain or async) holds; the seconds it took."""
    start = time.monotonic()
    while True:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def replicas(local_env: dict[str, str], namespace: str) -> AsyncIterator[list[Replica]]:
    started = []
    try:
        for identity in ("a", "b"):
            kube = await KubeClient.connect(local_env["KUBECONFIG"])
            instrument(kube)  # as the operator does: throttled and counted
            started.append(Replica(kube, namespace, identity))
        yield started
    finally:
        for replica in started:
            await replica.close()


async def take_lease(kube: KubeClient, namespace: str) -> None:
    """Another holder writes itself into the Lease: the leader's renewals now fail."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    spec: dict[str, Any] = {"holderIdentity": "intruder", "renewTime": now, "acquireTime": now}
    spec["leaseDurationSeconds"] = int(LEASE_DURATION)
    await kube.patch(LEASES, LEASE, {"spec": spec}, namespace)


async def test_a_deposed_leaders_task_stops_and_the_new_leader_resumes_it(
    kube: KubeClient, namespace: str, replicas: list[Replica]
) -> None:
    labels = dict([SELECTOR.split("=")])
    cm = {"metadata": {"name": "work", "labels": labels}, "data": {"progress": "0", "log": ""}}
    await kube.create(CONFIGMAPS, cm, namespace)

    async def counted() -> int:
        return progress(await kube.get(CONFIGMAPS, "work", namespace))

    async def leader_counting() -> bool:
        return any(r.mgr.is_leader for r in replicas) and await counted() >= 3

    async def all_counted() -> bool:
        return await counted() >= STEPS

    await eventually(leader_counting, 60, "a leader counting")
    leader = next(r for r in replicas if r.mgr.is_leader)
    standby = next(r for r in replicas if r is not leader)
    assert not standby.mgr.workers_started

    await take_lease(kube, namespace)
    deposed_in = await eventually(leader.run.done, 60, "the deposed leader's run to end")
    assert isinstance(leader.run.exception(), LeadershipLost)
    assert leader.counter.cancelled.is_set() and leader.mgr.tasks.running == []
    at_deposition = await counted()

    handover = await eventually(lambda: standby.mgr.is_leader, 60, "the standby to lead")
    finished = await eventually(all_counted, 120, "the count to finish")

    steps = history(await kube.get(CONFIGMAPS, "work", namespace))
    assert [n for _, n in steps] == list(range(1, STEPS + 1))  # none lost, none repeated
    # The first leader's steps, then the second's: the first stopped counting when its
    # task was cancelled, and the second resumed from the recorded count.
    writers = [who for who, _ in steps]
    first = writers.count(leader.identity)
    assert writers == [leader.identity] * first + [standby.identity] * (STEPS - first)
    assert 3 <= at_deposition <= first < STEPS
    assert not standby.counter.cancelled.is_set()
    print(
        f"deposed {deposed_in:.1f}s after the Lease was taken, the standby led "
        f"{handover:.1f}s later and finished {finished:.1f}s after that; "
        f"{first}/{STEPS} steps by the first leader"
    )
