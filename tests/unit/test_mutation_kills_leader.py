"""The Lease on the API (KubeLeaseStore) through an in-memory client, and leader-election
details that surviving mutants showed no test pinned down."""

from __future__ import annotations

import asyncio
import copy
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.clients.kube import LEASES, ApiError, Resource
from controller.runtime.clock import FakeClock, settle_loop
from controller.runtime.leader import (
    KubeLeaseStore,
    LeaderElectionConfig,
    LeaderElector,
    LeadershipLost,
    LeaseConflict,
    LeaseRecord,
    MemoryLeaseStore,
    format_micro_time,
    parse_micro_time,
)
from controller.runtime.store import Obj

WHEN = datetime(2026, 11, 30, 12, 0, 0, 250000, tzinfo=UTC)


class Api:
    """Leases by name with resourceVersions, as the API server keeps them."""

    def __init__(self, error: ApiError | None = None):
        self.leases: dict[str, Obj] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.error = error
        self.version = 10

    def last_call(self) -> tuple[Any, ...]:
        """The latest call; read through a method, as mypy keeps the type an earlier
        `assert api.calls[-1] == (...)` narrowed `api.calls[-1]` to across later calls."""
        return self.calls[-1]

    def _fail(self) -> None:
        if self.error is not None:
            raise self.error

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> Obj:
        self.calls.append(("get", res, name, namespace))
        self._fail()
        if name not in self.leases:
            raise ApiError(404, {"reason": "NotFound", "message": "not found"})
        return copy.deepcopy(self.leases[name])

    async def create(self, res: Resource, obj: Obj, namespace: str | None = None) -> Obj:
        self.calls.append(("create", res, copy.deepcopy(obj)))
        self._fail()
        name = obj["metadata"]["name"]
        if name in self.leases:
            raise ApiError(409, {"reason": "AlreadyExists", "message": "exists"})
        return self._store(obj)

    async def replace(self, res: Resource, obj: Obj, namespace: str | None = None) -> Obj:
        assert res is LEASES
        self.calls.append(("replace", res, copy.deepcopy(obj)))
        self._fail()
        name = obj["metadata"]["name"]
        if name not in self.leases:
            raise ApiError(404, {"reason": "NotFound", "message": "gone"})
        if (
            obj["metadata"].get("resourceVersion")
            != self.leases[name]["metadata"]["resourceVersion"]
        ):
            raise ApiError(409, {"reason": "Conflict", "message": "modified"})
        return self._store(obj)

    def _store(self, obj: Obj) -> Obj:
        self.version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.leases[obj["metadata"]["name"]] = stored
        return copy.deepcopy(stored)


def store(api: Api) -> KubeLeaseStore:
    return KubeLeaseStore(api, "ns", "operator-lease")  # type: ignore[arg-type]


async def test_the_lease_is_created_read_and_replaced_with_its_resource_version() -> None:
    api = Api()
    leases = store(api)
    assert await leases.get() is None
    created = await leases.create(LeaseRecord("a", 15, WHEN, WHEN, 1))
    assert created == LeaseRecord("a", 15, WHEN, WHEN, 1, "11")
    _, res, body = api.calls[-1]
    assert res is LEASES
    assert body == {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "operator-lease", "namespace": "ns"},  # no resourceVersion
        "spec": {
            "holderIdentity": "a",
            "leaseDurationSeconds": 15,
            "leaseTransitions": 1,
            "acquireTime": "2026-11-30T12:00:00.250000Z",
            "renewTime": "2026-11-30T12:00:00.250000Z",
        },
    }
    assert await leases.get() == created
    assert api.calls[-1] == ("get", LEASES, "operator-lease", "ns")
    renewed = await leases.update(LeaseRecord("a", 15, WHEN, WHEN, 1, "11"))
    assert renewed.resource_version == "12"
    assert api.last_call()[2]["metadata"] == {
        "name": "operator-lease",
        "namespace": "ns",
        "resourceVersion": "11",
    }


async def test_conflicts_are_lease_conflicts_other_errors_raise() -> None:
    api = Api()
    leases = store(api)
    await leases.create(LeaseRecord("a", 15))
    with pytest.raises(LeaseConflict):
        await leases.create(LeaseRecord("b", 15))  # it exists
    with pytest.raises(LeaseConflict):
        await leases.update(LeaseRecord("b", 15, resource_version="1"))  # it moved on
    del api.leases["operator-lease"]
    with pytest.raises(LeaseConflict):
        await leases.update(LeaseRecord("b", 15, resource_version="11"))  # it vanished
    broken = store(Api(ApiError(500, {"reason": "InternalError", "message": "boom"})))
    for call in (
        broken.get(),
        broken.create(LeaseRecord("a", 15)),
        broken.update(LeaseRecord("a", 15, resource_version="1")),
    ):
        with pytest.raises(ApiError):
            await call


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is not UTC (as on many a developer's machine)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_micro_time_is_utc_whatever_the_local_zone(tokyo: None) -> None:
    assert format_micro_time(WHEN) == "2026-11-30T12:00:00.250000Z"
    parsed = parse_micro_time("2026-11-30T12:00:00.250000Z")
    assert parsed == WHEN and parsed is not None and parsed.utcoffset() == timedelta(0)


async def test_the_memory_store_versions_every_write_and_refuses_stale_ones() -> None:
    leases = MemoryLeaseStore()
    with pytest.raises(LeaseConflict, match=r"^resource version changed$"):
        await leases.update(LeaseRecord("a", 15))  # nothing to update
    first = await leases.create(LeaseRecord("a", 15))
    assert first.resource_version == "1"
    with pytest.raises(LeaseConflict, match=r"^lease exists$"):
        await leases.create(LeaseRecord("b", 15))
    second = await leases.update(LeaseRecord("a", 15, resource_version="1"))
    assert second.resource_version == "2" and leases.record == second
    with pytest.raises(LeaseConflict):
        await leases.update(LeaseRecord("b", 15, resource_version="1"))  # stale


def elector(store: Any, clock: FakeClock, identity: str = "me") -> LeaderElector:
    config = LeaderElectionConfig(lease_name="mutation-lease", namespace="ns", identity=identity)
    return LeaderElector(config, store, clock, rng=random.Random(1))


async def test_release_hands_the_lease_over_at_once() -> None:
    clock, leases = FakeClock(), MemoryLeaseStore()
    await leases.create(LeaseRecord("me", 15, WHEN, WHEN, lease_transitions=3))
    me = elector(leases, clock)
    clock.advance(7.0)
    await me.release()
    assert me.is_leader is False
    assert leases.record == LeaseRecord("", 1, clock.wall(), clock.wall(), 3, "2")
    assert me.observed_record == leases.record


async def test_release_failing_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemoryLeaseStore):
        async def get(self) -> LeaseRecord | None:
            raise ConnectionError("API server unreachable")

    await elector(Broken(), FakeClock()).release()
    assert "releasing lease mutation-lease failed: API server unreachable" in caplog.messages


async def test_a_lease_is_free_exactly_lease_duration_after_its_last_change() -> None:
    clock, leases = FakeClock(), MemoryLeaseStore()
    await leases.create(LeaseRecord("other", 15, WHEN, WHEN))
    me = elector(leases, clock)
    assert not await me._try_acquire_or_renew()  # held: its change is observed now
    clock.advance(15.0)  # observed + lease duration == now: expired (client-go's rule)
    assert await me._try_acquire_or_renew() and me.is_leader
    assert leases.record is not None and leases.record.holder_identity == "me"
    clock, leases = FakeClock(), MemoryLeaseStore()
    await leases.create(LeaseRecord("other", 15, WHEN, WHEN))
    early = elector(leases, clock)
    assert not await early._try_acquire_or_renew()
    clock.advance(14.999)
    assert not await early._try_acquire_or_renew()


def test_an_elector_needs_an_identity() -> None:
    with pytest.raises(ValueError, match=r"^leader election needs a non-empty identity$"):
        LeaderElectionConfig(lease_name="l", namespace="ns", identity="")


def test_timing_rules_at_their_boundaries() -> None:
    from controller.runtime.leader import check_timings

    check_timings(15.0, 10.0, 0.5)  # a sub-second retry period is fine
    check_timings(15.0, 2.41, 2.0)
    with pytest.raises(ValueError, match=r"^lease_duration must be greater than renew_deadline$"):
        check_timings(10.0, 10.0, 2.0)
    with pytest.raises(
        ValueError, match=r"^renew_deadline must be greater than retry_period \* 1.2$"
    ):
        check_timings(15.0, 2.4, 2.0)  # exactly 1.2 retries: too tight
    with pytest.raises(ValueError, match=r"^retry_period must be positive$"):
        check_timings(15.0, 10.0, 0.0)


async def test_a_candidate_retries_after_retry_period_plus_jitter() -> None:
    clock, leases = FakeClock(), MemoryLeaseStore()
    await leases.create(LeaseRecord("other", 15, WHEN, WHEN))
    me = elector(leases, clock)

    async def forever() -> None:
        await asyncio.Event().wait()

    task = asyncio.ensure_future(me.run(forever))
    try:
        await settle_loop()
        r = random.Random(1).random()
        assert clock.next_deadline() == pytest.approx(clock.now() + 2.0 * (1 + r * 1.2))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_work_cancelled_by_a_lost_lease_sees_no_leadership() -> None:
    clock, leases = FakeClock(), MemoryLeaseStore()
    me = elector(leases, clock)
    seen: list[object] = []

    async def work() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append(me.is_leader)
            raise

    task = asyncio.ensure_future(me.run(work))
    await settle_loop()
    assert me.is_leader
    leases.record = replace_holder(leases.record, "usurper")  # our renewals now fail
    await clock.run_for(2.0 + 10.0 + 1.0)
    assert task.done()
    with pytest.raises(LeadershipLost, match=r"^me could not renew lease mutation-lease within"):
        task.result()
    assert seen == [False] and me.is_leader is False


async def test_the_works_own_failure_is_raised_after_the_release() -> None:
    leases = MemoryLeaseStore()
    me = elector(leases, FakeClock())

    async def work() -> None:
        raise RuntimeError("reconciler crashed")

    with pytest.raises(RuntimeError, match="reconciler crashed"):
        await me.run(work)
    assert leases.record is not None and leases.record.holder_identity == ""


def replace_holder(record: LeaseRecord | None, holder: str) -> LeaseRecord:
    import dataclasses

    assert record is not None
    return dataclasses.replace(record, holder_identity=holder, renew_time=WHEN)


async def test_conflicts_carry_the_apis_words() -> None:
    api = Api()
    leases = store(api)
    await leases.create(LeaseRecord("a", 15))
    with pytest.raises(LeaseConflict, match="exists"):
        await leases.create(LeaseRecord("b", 15))
    with pytest.raises(LeaseConflict, match="modified"):
        await leases.update(LeaseRecord("b", 15, resource_version="1"))


def test_a_lease_without_metadata_has_no_resource_version() -> None:
    from controller.runtime.leader import lease_to_record

    assert lease_to_record({"spec": {"holderIdentity": "a"}}).resource_version is None


async def test_an_elector_starts_and_stays_a_follower_while_another_holds_the_lease() -> None:
    from controller.runtime import metrics

    clock, leases = FakeClock(), MemoryLeaseStore()
    await leases.create(LeaseRecord("other", 15, WHEN, WHEN))
    me = elector(leases, clock)
    gauge = metrics.REGISTRY.get_sample_value(
        "leader_election_master_status", {"name": "mutation-lease"}
    )
    assert me.is_leader is False and gauge == 0
    assert not await me._try_acquire_or_renew()
    assert me.is_leader is False
