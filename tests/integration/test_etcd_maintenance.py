"""Defragmentation, alarms and compaction against real etcd 3.6 and 3.7 members: the client's
calls (controller.clients.etcd) and the maintenance runner (controller.etcdcluster.maintenance).

Members are local processes (tests/etcdproc.py); a small quota is set through etcd's
environment (ETCD_QUOTA_BACKEND_BYTES, inherited by the processes), so a few MiB of writes
raise a real NOSPACE alarm. Run with `-s` to see sizes and timings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from etcd3aio.errors import EtcdError
from etcd3aio.kv import KVService

from api.cluster import MaintenancePolicy
from controller.clients.etcd import (
    NOSPACE,
    Alarm,
    Compacted,
    Endpoint,
    EtcdClient,
    EtcdPool,
    NoSpace,
    Unavailable,
    error_for,
)
from controller.etcdcluster.maintenance import (
    FRAGMENTED,
    INTERVAL,
    NO_SPACE,
    NO_SPACE_BLOCKED,
    NOT_FRAGMENTED,
    UNHEALTHY,
    Compact,
    Defragment,
    Disarm,
)
from controller.etcdcluster.maintenance_runner import Done, run_maintenance
from controller.runtime.clock import RealClock
from tests.etcdproc import MINORS, LocalEtcd, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MiB = 1024 * 1024
VALUE = b"v" * (100 * 1024)  # 100 KiB: a few dozen writes fill a small quota
QUOTA = 4 * MiB  # etcd has no minimum; this one fills in well under a second
# Maintenance on: every fragmented member, whatever its size, no wait between rounds.
EAGER = MaintenancePolicy(
    fragmentation_threshold_percent=50, min_db_size_bytes=0, min_interval_in_second=0
)


@pytest.fixture(params=MINORS)
def etcd(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalEtcd]:
    local = LocalEtcd(request.param, tmp_path)
    yield local
    local.stop_all()


@pytest.fixture
def small_quota(monkeypatch: pytest.MonkeyPatch) -> int:
    """Members started from now on have a quota of QUOTA bytes."""
    monkeypatch.setenv("ETCD_QUOTA_BACKEND_BYTES", str(QUOTA))
    return QUOTA


@pytest.fixture
async def pool() -> AsyncIterator[EtcdPool]:
    pool = EtcdPool()
    yield pool
    await pool.close()


async def put(endpoint: Endpoint, key: str, value: bytes) -> None:
    """One write, failing as the operator's client would name the failure."""
    channel = grpc.aio.insecure_channel(endpoint.address)
    try:
        await KVService(channel, max_attempts=1).put(key, value, timeout=5)
    except (grpc.aio.AioRpcError, EtcdError) as exc:
        rpc = exc if isinstance(exc, grpc.aio.AioRpcError) else exc.__cause__
        if not isinstance(rpc, grpc.aio.AioRpcError):
            raise
        raise error_for(rpc.code(), rpc.details() or "", endpoint.address, False) from exc
    finally:
        await channel.close()


async def fill(endpoint: Endpoint, keys: int, writes: int) -> int:
    """`writes` writes of VALUE over `keys` keys (so history piles up); the revision after."""
    channel = grpc.aio.insecure_channel(endpoint.address)
    try:
        kv = KVService(channel, max_attempts=1)
        for i in range(writes):
            await kv.put(f"/fill/{i % keys:05d}", VALUE, timeout=5)
        return int((await kv.get("/fill/", b"/fill0", count_only=True)).header.revision)
    finally:
        await channel.close()


async def fill_until_no_space(endpoint: Endpoint) -> int:
    """Overwrites ten keys until etcd refuses with NOSPACE; how many writes it took."""
    for n in range(10_000):
        try:
            await put(endpoint, f"/fill/{n % 10}", VALUE)
        except NoSpace as exc:
            assert "database space exceeded" in str(exc)
            return n
    raise AssertionError("no NOSPACE after 10000 writes")


async def delete_all(endpoint: Endpoint) -> int:
    channel = grpc.aio.insecure_channel(endpoint.address)
    try:
        resp = await KVService(channel, max_attempts=1).delete("/fill/", b"/fill0", timeout=5)
        return int(resp.header.revision)
    finally:
        await channel.close()


async def settled_in_use(client: EtcdClient, below: int) -> int:
    """dbSizeInUse once under `below`. bbolt counts the pages a compaction freed as in use
    until a later write transaction releases them, so this writes until it sees them free."""
    for _ in range(50):
        status = await client.status()
        if status.db_size_in_use < below:
            return status.db_size_in_use
        await put(client.endpoint, "/nudge", b"x")
        await asyncio.sleep(0.1)
    raise AssertionError(f"dbSizeInUse stayed at {status.db_size_in_use}, not below {below}")


def assert_leader_last(steps: list[Defragment]) -> None:
    """Each member once, followers by name, and a member defragmented while it led last.
    (Leadership may move during a run on a loaded machine: each step orders by the leader
    of its own observation, which the step records.)"""
    assert len({s.member_id for s in steps}) == len(steps) == 3
    assert not any(s.leader for s in steps[:-1]), steps
    followers = [s.name for s in steps if not s.leader]
    assert followers == sorted(followers) or not steps[-1].leader, steps


# --- the client -------------------------------------------------------------------------------


async def test_status_reports_sizes_and_the_default_quota(etcd: LocalEtcd) -> None:
    [m0] = etcd.cluster(1)
    async with EtcdClient(m0.endpoint) as client:
        status = await client.status()
        assert 0 < status.db_size_in_use <= status.db_size
        assert status.db_size_quota == 2 * 1024**3  # etcd's default, filled in when unset
        assert status.alarms == () and status.problems == () and status.errors == ()
        assert await client.alarm_list() == []


async def test_defragment_shrinks_the_database_after_deletes(etcd: LocalEtcd) -> None:
    [m0] = etcd.cluster(1)
    revision = await fill(m0.endpoint, keys=200, writes=200)  # 20 MiB of distinct keys
    async with EtcdClient(m0.endpoint) as client:
        full = await client.status()
        assert full.db_size > 10 * MiB  # what the backend committed so far (every 100 ms)
        revision = await delete_all(m0.endpoint)
        await client.compact(revision, physical=True)
        in_use = await settled_in_use(client, MiB)
        assert (await client.status()).db_size >= full.db_size  # the file keeps its size ...
        await client.defragment()
        after = await client.status()
    print(f"\n{etcd.minor}: {full.db_size} → {after.db_size} bytes ({in_use} in use)")
    assert after.db_size < MiB  # ... until defragmented
    assert after.errors == ()


async def test_compacting_twice_at_a_revision_raises_compacted(etcd: LocalEtcd) -> None:
    [m0] = etcd.cluster(1)
    revision = await fill(m0.endpoint, keys=1, writes=3)
    async with EtcdClient(m0.endpoint) as client:
        await client.compact(revision)
        with pytest.raises(Compacted, match="required revision has been compacted"):
            await client.compact(revision)
        with pytest.raises(Compacted):
            await client.compact(revision - 1)


async def test_no_space_alarm_cleared_by_compaction_defragmentation_and_disarm(
    etcd: LocalEtcd, small_quota: int
) -> None:
    [m0] = etcd.cluster(1)
    writes = await fill_until_no_space(m0.endpoint)
    async with EtcdClient(m0.endpoint) as client:
        status = await client.status()
        alarm = Alarm(status.member_id, NOSPACE)
        assert status.db_size_quota == small_quota
        assert await client.alarm_list() == [alarm]
        # Every member lists the alarm among its errors; it is not a member's problem.
        assert status.alarms == (alarm,) and status.problems == ()
        print(f"\n{etcd.minor}: NOSPACE after {writes} writes, dbSize {status.db_size}")

        with pytest.raises(NoSpace):  # the alarm holds until disarmed, whatever the space
            await put(m0.endpoint, "/k", b"v")
        await client.compact(status.revision, physical=True)
        await client.defragment()
        assert (await client.status()).db_size < small_quota // 2
        with pytest.raises(NoSpace):
            await put(m0.endpoint, "/k", b"v")

        assert await client.alarm_disarm(status.member_id) == [alarm]
        assert await client.alarm_list() == []
        assert await client.alarm_disarm(status.member_id) == []  # nothing left to disarm
        await put(m0.endpoint, "/k", b"v")
        assert (await client.status()).errors == ()


# --- the runner -------------------------------------------------------------------------------


async def test_runner_defragments_a_fragmented_member(etcd: LocalEtcd, pool: EtcdPool) -> None:
    [m0] = etcd.cluster(1)
    await fill(m0.endpoint, keys=100, writes=100)
    async with EtcdClient(m0.endpoint) as client:
        await client.compact(await delete_all(m0.endpoint), physical=True)
        await settled_in_use(client, MiB)
        member_id = (await client.status()).member_id
    steps: list[Done] = []
    starts: list[object] = []
    report = await run_maintenance(
        pool, [m0.endpoint], None, EAGER, on_step=steps.append, on_start=starts.append
    )

    assert report.error is None and report.outcome is not None
    assert report.outcome.reason == NOT_FRAGMENTED
    [done] = report.done
    assert steps == [done] and starts == [done.step]
    assert isinstance(done.step, Defragment) and done.step.member_id == member_id
    assert done.step.reason == FRAGMENTED and done.reason == "Defragmented"
    assert done.db_size_before is not None and done.db_size_after is not None
    assert done.db_size_after < MiB < 9 * MiB < done.db_size_before
    assert "m0" in done.message and "→" in done.message
    assert report.defragmented and not report.disarmed
    print(f"\n{etcd.minor}: {done.message}")

    # Nothing is fragmented any more.
    again = await run_maintenance(pool, [m0.endpoint], None, EAGER)
    assert again.done == () and again.outcome is not None
    assert again.outcome.reason == NOT_FRAGMENTED


async def test_runner_waits_for_the_interval(etcd: LocalEtcd, pool: EtcdPool) -> None:
    [m0] = etcd.cluster(1)
    await fill(m0.endpoint, keys=20, writes=20)
    await delete_all(m0.endpoint)
    async with EtcdClient(m0.endpoint) as client:
        await client.compact((await client.status()).revision, physical=True)
        await settled_in_use(client, MiB)
    policy = EAGER.model_copy(update={"min_interval_in_second": 3600})
    clock = RealClock()
    report = await run_maintenance(
        pool, [m0.endpoint], None, policy, last_round=clock.now(), clock=clock
    )
    assert report.done == () and report.outcome is not None
    assert report.outcome.reason == INTERVAL and report.outcome.retry_at is not None
    assert 3590 < report.outcome.retry_at - clock.now() <= 3600


async def test_runner_clears_no_space(etcd: LocalEtcd, pool: EtcdPool, small_quota: int) -> None:
    [m0] = etcd.cluster(1)
    await fill_until_no_space(m0.endpoint)
    report = await run_maintenance(pool, [m0.endpoint], None, MaintenancePolicy())

    assert report.error is None, report.error
    assert [type(d.step) for d in report.done] == [Compact, Defragment, Disarm]
    assert [d.reason for d in report.done] == ["Compacted", "Defragmented", "AlarmDisarmed"]
    assert report.disarmed and not report.defragmented  # a NOSPACE recovery is not a round
    assert report.outcome is not None and report.outcome.reason == NOT_FRAGMENTED
    print("\n" + "\n".join(d.message for d in report.done))
    await put(m0.endpoint, "/k", b"v")


async def test_runner_clears_no_space_on_three_members(
    etcd: LocalEtcd, pool: EtcdPool, small_quota: int
) -> None:
    members = etcd.cluster(3)
    endpoints = [m.endpoint for m in members]
    await fill_until_no_space(endpoints[1])
    report = await run_maintenance(pool, endpoints, None, MaintenancePolicy())

    assert report.error is None, report.error
    steps = [d.step for d in report.done]
    assert [type(s) for s in steps[:4]] == [Compact, Defragment, Defragment, Defragment]
    assert all(isinstance(s, Disarm) for s in steps[4:]) and len(steps) > 4
    assert_leader_last([s for s in steps if isinstance(s, Defragment)])
    assert report.outcome is not None and report.outcome.reason == NOT_FRAGMENTED
    print("\n" + "\n".join(d.message for d in report.done))
    for e in endpoints:
        await put(e, "/k", b"v")


async def test_runner_leaves_no_space_alone_when_told(
    etcd: LocalEtcd, pool: EtcdPool, small_quota: int
) -> None:
    [m0] = etcd.cluster(1)
    await fill_until_no_space(m0.endpoint)
    policy = MaintenancePolicy(clear_no_space=False)
    report = await run_maintenance(pool, [m0.endpoint], None, policy)
    assert report.done == () and report.outcome is not None
    assert report.outcome.reason == NO_SPACE and "clearNoSpace is false" in report.outcome.message
    with pytest.raises(NoSpace):
        await put(m0.endpoint, "/k", b"v")


async def test_runner_says_when_the_data_does_not_fit(
    etcd: LocalEtcd, pool: EtcdPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More distinct keys than the quota holds (written before the quota was lowered):
    compaction frees nothing, a defragmentation shows it, nothing is disarmed."""
    [m0] = etcd.cluster(1)
    await fill(m0.endpoint, keys=50, writes=50)  # 5 MB of data in use
    m0.stop()
    monkeypatch.setenv("ETCD_QUOTA_BACKEND_BYTES", str(QUOTA))
    m0.start([m0])  # not healthy to /health: it reports the NOSPACE alarm this raises
    for _ in range(300):
        try:
            await put(m0.endpoint, "/k", b"v")
        except NoSpace:
            break
        except Unavailable:  # still starting
            await asyncio.sleep(0.1)
    else:
        raise AssertionError("no NOSPACE from a member holding more than its quota")

    report = await run_maintenance(pool, [m0.endpoint], None, MaintenancePolicy())
    assert report.error is None, report.error
    assert [type(d.step) for d in report.done] == [Compact, Defragment]
    assert report.outcome is not None and report.outcome.reason == NO_SPACE_BLOCKED
    assert "delete keys" in report.outcome.message
    print(f"\n{report.outcome.message}")
    # The next run compacts at the same revision: etcd says it already is; the same answer.
    again = await run_maintenance(pool, [m0.endpoint], None, MaintenancePolicy())
    assert again.outcome is not None and again.outcome.reason == NO_SPACE_BLOCKED
    assert "already compacted" in again.done[0].message
    with pytest.raises(NoSpace):
        await put(m0.endpoint, "/k", b"v")


async def test_runner_three_members_leader_last(etcd: LocalEtcd, pool: EtcdPool) -> None:
    members = etcd.cluster(3)
    endpoints = [m.endpoint for m in members]
    await fill(endpoints[0], keys=100, writes=100)
    revision = await delete_all(endpoints[0])
    async with EtcdClient(endpoints[0]) as client:
        await client.compact(revision, physical=True)
    for e in endpoints:
        async with EtcdClient(e) as client:
            await settled_in_use(client, MiB)

    report = await run_maintenance(pool, endpoints, None, EAGER)
    assert report.error is None, report.error
    steps = [d.step for d in report.done]
    assert all(isinstance(s, Defragment) for s in steps) and len(steps) == 3
    assert_leader_last([s for s in steps if isinstance(s, Defragment)])
    assert all(d.db_size_after is not None and d.db_size_after < MiB for d in report.done)
    print(f"\n{etcd.minor}: " + "; ".join(d.message for d in report.done))


async def test_runner_never_defragments_with_a_member_down(etcd: LocalEtcd, pool: EtcdPool) -> None:
    members = etcd.cluster(3)
    endpoints = [m.endpoint for m in members]
    await fill(endpoints[0], keys=50, writes=50)
    revision = await delete_all(endpoints[0])
    async with EtcdClient(endpoints[0]) as client:
        await client.compact(revision, physical=True)
        await settled_in_use(client, MiB)
    members[2].stop()
    report = await run_maintenance(pool, endpoints, None, EAGER)
    assert report.done == () and report.outcome is not None
    assert report.outcome.reason == UNHEALTHY and "m2 did not answer" in report.outcome.message


async def test_runner_cancelled_between_steps_leaves_a_healthy_cluster(
    etcd: LocalEtcd, pool: EtcdPool
) -> None:
    """Cancelled as its first defragmentation ends: the cluster serves, and the next run
    does the rest (the member already done is not fragmented any more)."""
    members = etcd.cluster(3)
    endpoints = [m.endpoint for m in members]
    await fill(endpoints[0], keys=50, writes=50)
    revision = await delete_all(endpoints[0])
    async with EtcdClient(endpoints[0]) as client:
        await client.compact(revision, physical=True)
    for e in endpoints:
        async with EtcdClient(e) as client:
            await settled_in_use(client, MiB)

    first: list[Done] = []

    def cancel_after_first(done: Done) -> None:
        first.append(done)
        task.cancel()

    task = asyncio.ensure_future(
        run_maintenance(pool, endpoints, None, EAGER, on_step=cancel_after_first)
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(first) == 1
    for m in members:
        wait_until(m.healthy, 10, f"{m.name} healthy")

    rest = await run_maintenance(pool, endpoints, None, EAGER)
    assert rest.error is None
    done_ids = {d.step.member_id for d in [*first, *rest.done] if isinstance(d.step, Defragment)}
    assert len(done_ids) == 3 and len(rest.done) == 2
