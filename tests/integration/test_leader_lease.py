"""Leader election on a real coordination.k8s.io/v1 Lease in the local API server.

Two electors race for one Lease with short timings: exactly one leads; a leader that dies
without releasing is replaced only after its lease expires; one that releases is replaced
at once.

Short, but with margin: the electors share this process's loop, and on 2 loaded cores the
API (or the loop) can stall for seconds. A renew deadline of 6 s rides out such a stall
(at 2 s, a 2 s stall deposed the leader mid-test), as in test_operator_process.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import datetime

import pytest

from controller.clients.kube import LEASES, KubeClient
from controller.runtime.leader import (
    KubeLeaseStore,
    LeaderElectionConfig,
    LeaderElector,
    parse_micro_time,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

LEASE = "etcd-operator-leader-test"
SHORT = (8.0, 6.0, 1.0)  # lease duration, renew deadline, retry period
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class Work:
    """An on_started_leading that runs until told to finish."""

    def __init__(self) -> None:
        self.finish = asyncio.Event()

    async def __call__(self) -> None:
        await self.finish.wait()


class Replica:
    """One elector with its own store and task, as a separate operator process would have."""

    def __init__(
        self, kube: KubeClient, namespace: str, identity: str, timings: tuple[float, float, float]
    ) -> None:
        lease_duration, renew_deadline, retry_period = timings
        config = LeaderElectionConfig(
            LEASE, namespace, identity, lease_duration, renew_deadline, retry_period
        )
        self.identity = identity
        self.elector = LeaderElector(config, KubeLeaseStore(kube, namespace, LEASE))
        self.work = Work()
        self.task = asyncio.ensure_future(self.elector.run(self.work))

    async def crash(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> float:
    """Polls until `condition` holds; the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def sole_leader(replicas: list[Replica]) -> Replica | None:
    leaders = [r for r in replicas if r.elector.is_leader]
    assert len(leaders) <= 1, f"several leaders: {[r.identity for r in leaders]}"
    return leaders[0] if leaders else None


def stamp(value: str) -> datetime:
    parsed = parse_micro_time(value)
    assert parsed is not None
    return parsed


async def held_for(kube: KubeClient, namespace: str) -> float:
    """Seconds from the Lease's acquisition to its last renewal."""
    spec = (await kube.get(LEASES, LEASE, namespace))["spec"]
    return (stamp(spec["renewTime"]) - stamp(spec["acquireTime"])).total_seconds()


def observed_holder(replica: Replica) -> str | None:
    record = replica.elector.observed_record
    return record.holder_identity if record is not None else None


async def stop_all(replicas: list[Replica]) -> None:
    for replica in replicas:
        await replica.crash()


async def test_exactly_one_of_two_electors_leads(kube: KubeClient, namespace: str) -> None:
    replicas = [Replica(kube, namespace, name, SHORT) for name in ("a", "b")]
    lease_duration = SHORT[0]
    try:
        await wait_for(lambda: sole_leader(replicas) is not None)
        leader = sole_leader(replicas)
        assert leader is not None
        # Renewals keep the one leader past several lease durations (the standby, watching
        # all along, would take an unrenewed lease after one).
        async with asyncio.timeout(6 * lease_duration):
            while (renewed_for := await held_for(kube, namespace)) < 2 * lease_duration:
                assert sole_leader(replicas) is leader
                await asyncio.sleep(0.1)
        assert sole_leader(replicas) is leader
        print(f"one leader for {renewed_for:.1f}s (lease duration {lease_duration:.0f}s)")
        spec = (await kube.get(LEASES, LEASE, namespace))["spec"]
        assert spec["holderIdentity"] == leader.identity
        assert spec["leaseDurationSeconds"] == lease_duration
        assert spec.get("leaseTransitions", 0) == 0
        assert MICRO_TIME.match(spec["renewTime"]) and MICRO_TIME.match(spec["acquireTime"])
    finally:
        await stop_all(replicas)


async def test_a_crashed_leader_is_replaced_after_its_lease_expires(
    kube: KubeClient, namespace: str
) -> None:
    replicas = [Replica(kube, namespace, name, SHORT) for name in ("a", "b")]
    lease_duration = SHORT[0]
    try:
        await wait_for(lambda: sole_leader(replicas) is not None)
        leader = sole_leader(replicas)
        assert leader is not None
        standby = next(r for r in replicas if r is not leader)
        await leader.crash()  # no release: the lease must expire on the standby's clock
        assert not leader.elector.is_leader
        held = (await kube.get(LEASES, LEASE, namespace))["spec"]
        assert held["holderIdentity"] == leader.identity  # a crash leaves the lease held
        took = await wait_for(lambda: standby.elector.is_leader)
        print(f"crash handover took {took:.2f}s (lease duration {lease_duration:.0f}s)")
        spec = (await kube.get(LEASES, LEASE, namespace))["spec"]
        assert spec["holderIdentity"] == standby.identity
        assert spec["leaseTransitions"] == 1
        # The standby saw the last renewal no earlier than it was written and then waited a
        # full lease duration: its acquisition is at least that long after the renewal (one
        # host, one wall clock, so the two timestamps compare).
        expired_for = stamp(spec["acquireTime"]) - stamp(held["renewTime"])
        assert expired_for.total_seconds() >= lease_duration
    finally:
        await stop_all(replicas)


async def test_a_released_lease_is_taken_over_at_once(kube: KubeClient, namespace: str) -> None:
    # A long lease, so that "at once" is clearly not "after expiry".
    replicas = [Replica(kube, namespace, name, (30.0, 20.0, 0.5)) for name in ("a", "b")]
    try:
        await wait_for(lambda: sole_leader(replicas) is not None)
        leader = sole_leader(replicas)
        assert leader is not None
        standby = next(r for r in replicas if r is not leader)
        await wait_for(lambda: observed_holder(standby) == leader.identity)
        leader.work.finish.set()  # graceful: the work returns, run() releases and returns
        await asyncio.wait_for(leader.task, 30)
        assert not leader.elector.is_leader
        took = await wait_for(lambda: standby.elector.is_leader, timeout=60)
        print(f"release handover took {took:.2f}s (lease duration 30s)")
        assert took < 15.0
        spec = (await kube.get(LEASES, LEASE, namespace))["spec"]
        assert spec["holderIdentity"] == standby.identity
        assert spec["leaseTransitions"] == 1
    finally:
        await stop_all(replicas)
