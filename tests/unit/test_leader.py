"""Leader election timing on an in-memory Lease, with a fake clock (client-go's rules)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from controller.runtime import metrics
from controller.runtime.clock import FakeClock, settle_loop
from controller.runtime.leader import (
    LeaderElectionConfig,
    LeaderElector,
    LeadershipLost,
    LeaseRecord,
    MemoryLeaseStore,
    format_micro_time,
    lease_to_record,
    record_to_spec,
)

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


class FlakyStore:
    """Wraps a store; `mode` makes every call fail ("fail") or never answer ("hang")."""

    def __init__(self, inner: MemoryLeaseStore):
        self.inner = inner
        self.mode = "ok"

    async def _check(self) -> None:
        if self.mode == "fail":
            raise ConnectionError("API server unreachable")
        if self.mode == "hang":
            await asyncio.get_running_loop().create_future()

    async def get(self) -> LeaseRecord | None:
        await self._check()
        return await self.inner.get()

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        await self._check()
        return await self.inner.create(record)

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        await self._check()
        return await self.inner.update(record)


class Work:
    """An on_started_leading that runs until told to finish, noting whether it was cancelled."""

    def __init__(self) -> None:
        self.started = False
        self.cancelled = False
        self.finish = asyncio.Event()

    async def __call__(self) -> None:
        self.started = True
        try:
            await self.finish.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def elector(
    identity: str, store: object, clock: FakeClock, name: str = "lease", seed: int = 1
) -> LeaderElector:
    config = LeaderElectionConfig(lease_name=name, namespace="ns", identity=identity)
    return LeaderElector(config, store, clock, rng=random.Random(seed))  # type: ignore[arg-type]


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def master_status(name: str) -> float | None:
    return metrics.REGISTRY.get_sample_value("leader_election_master_status", {"name": name})


async def test_acquires_an_absent_lease_at_once() -> None:
    clock, store = FakeClock(), MemoryLeaseStore()
    a, work = elector("a", store, clock, name="absent"), Work()
    task = asyncio.ensure_future(a.run(work))
    await settle_loop()
    assert a.is_leader and work.started
    assert master_status("absent") == 1
    record = store.record
    assert record is not None
    assert record.holder_identity == "a"
    assert record.lease_duration_seconds == 15
    assert record.acquire_time == record.renew_time == clock.wall()
    assert record.lease_transitions == 0
    await stop(task)
    assert not a.is_leader
    assert master_status("absent") == 0


async def test_respects_another_holder_until_lease_duration_after_last_observed_change() -> None:
    clock, inner = FakeClock(), MemoryLeaseStore()
    # The remote timestamps are ancient: expiry must still be judged on our own clock.
    other = LeaseRecord("other", 15, LONG_AGO, LONG_AGO, lease_transitions=3)
    await inner.create(other)
    b = elector("b", inner, clock)
    task = asyncio.ensure_future(b.run(Work()))
    await clock.run_for(10.0)
    assert not b.is_leader
    # The other holder renews at t=10: b must wait 15s from when it sees that change.
    current = inner.record
    assert current is not None
    await inner.update(
        LeaseRecord("other", 15, LONG_AGO, clock.wall(), 3, current.resource_version)
    )
    await clock.run_for(14.9)
    assert not b.is_leader
    await clock.run_for(15.0)  # seen by t<=14.4, so expired by t<=29.4, +a jittered retry
    assert b.is_leader
    record = inner.record
    assert record is not None
    assert record.holder_identity == "b"
    assert record.lease_transitions == 4  # a takeover counts a transition
    assert record.acquire_time is not None and record.acquire_time > LONG_AGO
    await stop(task)


async def test_renewing_keeps_the_lease_and_a_standby_waits() -> None:
    clock, store = FakeClock(), MemoryLeaseStore()
    a, b = elector("a", store, clock), elector("b", store, clock, seed=2)
    task_a = asyncio.ensure_future(a.run(Work()))
    await settle_loop()
    acquired = clock.wall()
    task_b = asyncio.ensure_future(b.run(Work()))
    for _ in range(40):
        await clock.run_for(2.5)
        assert a.is_leader and not b.is_leader
    record = store.record
    assert record is not None
    assert record.holder_identity == "a"
    assert record.acquire_time == acquired
    assert record.renew_time is not None
    assert (clock.wall() - record.renew_time).total_seconds() <= 2.0
    assert record.lease_transitions == 0
    await stop(task_a)
    await stop(task_b)


@pytest.mark.parametrize("mode", ["fail", "hang"])
async def test_failing_to_renew_within_the_deadline_loses_leadership(mode: str) -> None:
    clock = FakeClock()
    store = FlakyStore(MemoryLeaseStore())
    a, work = elector("a", store, clock, name=f"lost-{mode}"), Work()
    task = asyncio.ensure_future(a.run(work))
    await settle_loop()
    assert a.is_leader
    store.mode = mode  # from now on every renewal attempt fails or never answers
    await clock.run_for(11.9)  # the renew window opens at 2s and lasts renew_deadline=10s
    assert a.is_leader and not task.done()
    await clock.run_for(0.2)
    assert task.done()
    with pytest.raises(LeadershipLost):
        task.result()
    assert work.cancelled
    assert not a.is_leader
    assert master_status(f"lost-{mode}") == 0


async def test_a_renewal_that_recovers_within_the_deadline_keeps_leadership() -> None:
    clock = FakeClock()
    store = FlakyStore(MemoryLeaseStore())
    a, work = elector("a", store, clock), Work()
    task = asyncio.ensure_future(a.run(work))
    await settle_loop()
    store.mode = "fail"
    await clock.run_for(9.0)
    store.mode = "ok"
    await clock.run_for(20.0)
    assert a.is_leader and not task.done() and not work.cancelled
    await stop(task)


async def test_work_returning_releases_the_lease_for_an_immediate_handover() -> None:
    clock, store = FakeClock(), MemoryLeaseStore()
    a, b = elector("a", store, clock), elector("b", store, clock, seed=2)
    work_a, work_b = Work(), Work()
    task_a = asyncio.ensure_future(a.run(work_a))
    await settle_loop()
    task_b = asyncio.ensure_future(b.run(work_b))
    await clock.run_for(30.0)
    assert a.is_leader and not b.is_leader
    work_a.finish.set()
    await settle_loop()
    assert task_a.done() and task_a.exception() is None
    assert not a.is_leader
    record = store.record
    assert record is not None and record.holder_identity == ""
    await clock.run_for(4.4)  # one jittered retry, far less than the 15s lease duration
    assert b.is_leader and work_b.started
    assert store.record is not None and store.record.lease_transitions == 1
    await stop(task_b)


async def test_release_after_cancel_clears_the_holder() -> None:
    clock, store = FakeClock(), MemoryLeaseStore()
    a = elector("a", store, clock)
    task = asyncio.ensure_future(a.run(Work()))
    await settle_loop()
    await stop(task)
    assert store.record is not None and store.record.holder_identity == "a"  # crash: kept
    await a.release()
    assert store.record is not None and store.record.holder_identity == ""


async def test_release_does_not_touch_a_lease_held_by_someone_else() -> None:
    clock, store = FakeClock(), MemoryLeaseStore()
    await store.create(LeaseRecord("other", 15, LONG_AGO, LONG_AGO))
    await elector("a", store, clock).release()
    assert store.record is not None and store.record.holder_identity == "other"


async def test_two_electors_on_one_lease_are_never_both_leaders() -> None:
    clock = FakeClock()
    shared = MemoryLeaseStore()
    stores = {"a": FlakyStore(shared), "b": FlakyStore(shared)}
    electors = {name: elector(name, stores[name], clock, seed=i) for i, name in enumerate("ab")}
    leaders_seen: list[str] = []

    async def replica(name: str) -> None:
        while True:  # a replica that lost leadership goes back to being a candidate
            try:
                await electors[name].run(Work())
            except LeadershipLost:
                pass

    tasks = [asyncio.ensure_future(replica(name)) for name in electors]
    for step in range(600):  # 150s in 0.25s steps; the leader's API access breaks twice
        if step in (40, 280):
            leader = next(n for n, e in electors.items() if e.is_leader)
            stores[leader].mode = "fail"
        if step in (200, 440):
            for store in stores.values():
                store.mode = "ok"
        await clock.run_for(0.25)
        current = [name for name, e in electors.items() if e.is_leader]
        assert len(current) <= 1, f"both lead at t={clock.now()}"
        if current and (not leaders_seen or leaders_seen[-1] != current[0]):
            leaders_seen.append(current[0])
    assert len(leaders_seen) >= 3  # leadership moved, and moved back
    for task in tasks:
        await stop(task)


def test_lease_spec_round_trips_in_micro_time() -> None:
    when = datetime(2026, 11, 28, 5, 0, 0, 123456, tzinfo=UTC)
    record = LeaseRecord("a", 15, when, when, 2)
    spec = record_to_spec(record)
    assert spec["renewTime"] == "2026-11-28T05:00:00.123456Z"
    assert format_micro_time(datetime(2026, 11, 28, 5, tzinfo=UTC)) == "2026-11-28T05:00:00.000000Z"
    lease = {"metadata": {"resourceVersion": "7"}, "spec": spec}
    assert lease_to_record(lease) == LeaseRecord("a", 15, when, when, 2, "7")
    assert lease_to_record({"metadata": {}, "spec": {}}) == LeaseRecord("", 0)


def test_config_rejects_timings_that_could_overlap_leaders() -> None:
    with pytest.raises(ValueError):
        LeaderElectionConfig("l", "ns", "a", lease_duration=10, renew_deadline=10)
    with pytest.raises(ValueError):
        LeaderElectionConfig("l", "ns", "a", renew_deadline=2.0, retry_period=2.0)
