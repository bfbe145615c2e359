"""EtcdClient and EtcdPool against real etcd 3.6 and 3.7 members started as local processes.

Every call and every error the client maps is provoked on a real member, nothing mocked;
members listen on 127.0.0.1 only (tests/etcdproc.py). Run with `-s` to see the timings.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import pytest

from controller.clients.etcd import (
    DIAL_SHARE,
    Endpoint,
    EndpointStatus,
    EtcdClient,
    EtcdClientError,
    EtcdPool,
    LearnerNotReady,
    Member,
    MemberNotFound,
    NoAnswer,
    TLSFailure,
    TLSMaterial,
    TooManyLearners,
    Unavailable,
    UnhealthyCluster,
)
from tests.etcdproc import CA, HOST, MINORS, EtcdProc, LocalEtcd, free_port, member_tls, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
T = TypeVar("T")

# The client timeout where a test waits one out on purpose (the operator uses 5 s).
SHORT = 2.0
# How long etcd may take to let a learner catch up, or to trust a new voter (it wants 5 s
# of connection), on a loaded 2-core machine.
ETCD_PACE = 30.0


@pytest.fixture(params=MINORS)
def etcd(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalEtcd]:
    local = LocalEtcd(request.param, tmp_path)
    yield local
    local.stop_all()


@dataclass(frozen=True)
class PKI:
    ca: CA  # signs members' and the client's certificates
    client: TLSMaterial
    stranger: CA  # signs nothing the members trust


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    ca = CA(tmp_path_factory.mktemp("pki"), "ca")
    stranger = CA(tmp_path_factory.mktemp("stranger"), "stranger")
    return PKI(ca, ca.issue("operator", "clientAuth").material(), stranger)


async def until_accepted(
    change: Callable[[], Awaitable[T]], refusal: type[EtcdClientError], what: str
) -> T:
    """Repeats a change etcd refuses for now (`refusal`) until it is accepted."""
    deadline = time.monotonic() + ETCD_PACE
    while True:
        try:
            return await change()
        except refusal as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {ETCD_PACE}s: {what} ({exc})") from exc
        await asyncio.sleep(0.1)


async def timed_value(call: Awaitable[T]) -> tuple[float, T]:
    start = time.monotonic()
    value = await call
    return time.monotonic() - start, value


async def timed(call: Awaitable[object]) -> tuple[float, BaseException | None]:
    start = time.monotonic()
    try:
        await call
    except Exception as exc:
        return time.monotonic() - start, exc
    return time.monotonic() - start, None


# --- EtcdClient: every call -------------------------------------------------------------------


async def test_member_list_and_status(etcd: LocalEtcd) -> None:
    [m0] = etcd.cluster(1)
    async with EtcdClient(m0.endpoint) as client:
        members = await client.member_list()
        status = await client.status()
    assert members == [Member(status.member_id, "m0", (m0.peer_url,), (m0.client_url,), False)]
    assert status.leader == status.member_id
    assert status.version.startswith(etcd.minor + ".")
    assert 1 <= status.raft_applied_index <= status.raft_index
    assert status.raft_term >= 1 and status.db_size > 0
    assert not status.is_learner and status.errors == ()


async def test_learner_add_promote_remove(etcd: LocalEtcd) -> None:
    """The operator's scale-up path and its refusals: add a learner, start it, promote it."""
    [m0] = etcd.cluster(1)
    m1, m2 = etcd.member("m1"), etcd.member("m2")
    async with EtcdClient(m0.endpoint) as client:
        learner = await client.member_add([m1.peer_url], is_learner=True)
        assert learner == Member(learner.id, "", (m1.peer_url,), (), True)
        assert not learner.started

        with pytest.raises(LearnerNotReady):  # not even started
            await client.member_promote(learner.id)
        with pytest.raises(TooManyLearners):
            await client.member_add([m2.peer_url], is_learner=True)
        voter = (await client.status()).member_id
        with pytest.raises(EtcdClientError, match=r"can only promote a learner member$"):
            await client.member_promote(voter)
        assert {m.id for m in await client.member_list()} == {voter, learner.id}

        m1.start([m0, m1], state="existing")
        async with EtcdClient(m1.endpoint) as on_learner:
            status = await until_accepted(on_learner.status, Unavailable, "learner serving")
            assert status.is_learner and status.member_id == learner.id
            with pytest.raises(EtcdClientError, match="not supported for learner"):
                await on_learner.member_list()  # a linearizable read
        pool = EtcdPool()
        answered, _ = await pool.member_list([m1.endpoint, m0.endpoint], None)
        await pool.close()
        assert answered == m0.endpoint
        await until_accepted(
            lambda: client.member_promote(learner.id), LearnerNotReady, "learner caught up"
        )
        listed = {m.name: m for m in await client.member_list()}
        assert set(listed) == {"m0", "m1"} and not listed["m1"].is_learner
        assert listed["m1"].client_urls == (m1.client_url,)

        # etcd refuses to remove a voter connected for less than 5 s ("unhealthy cluster").
        await until_accepted(
            lambda: client.member_remove(learner.id), UnhealthyCluster, "voter trusted"
        )
        assert [m.name for m in await client.member_list()] == ["m0"]
    wait_until(lambda: not m1.running, ETCD_PACE, "the removed member exits")


async def test_remove_unknown_member(etcd: LocalEtcd) -> None:
    [m0] = etcd.cluster(1)
    async with EtcdClient(m0.endpoint) as client:
        with pytest.raises(MemberNotFound):
            await client.member_remove(0x1234)
        assert [m.name for m in await client.member_list()] == ["m0"]


async def test_changes_refused_while_a_voter_never_started(etcd: LocalEtcd) -> None:
    """A voter added to one member makes a quorum of two with one started: etcd refuses every
    further add at once (no waiting), and the list needs that quorum."""
    [m0] = etcd.cluster(1)
    m1, m2 = etcd.member("m1"), etcd.member("m2")
    async with EtcdClient(m0.endpoint, timeout=SHORT) as client:
        voter = await client.member_add([m1.peer_url], is_learner=False)
        assert not voter.is_learner and not voter.started
        with pytest.raises(UnhealthyCluster, match="not enough started members"):
            await client.member_add([m2.peer_url], is_learner=False)
        with pytest.raises(UnhealthyCluster, match="unhealthy cluster"):
            await client.member_add([m2.peer_url], is_learner=True)
        with pytest.raises(Unavailable):
            await client.member_list()  # linearizable: no quorum, no answer

        m1.start([m0, m1], state="existing")
        m1.wait_healthy()
        listed = await client.member_list()
    assert sorted((m.name, m.is_learner) for m in listed) == [("m0", False), ("m1", False)]


async def test_add_refused_while_a_voter_is_down(etcd: LocalEtcd) -> None:
    """etcd refuses a change when the member asked has lost its connection to a voter."""
    m0, m1 = etcd.cluster(2)
    m1.stop()
    # Deterministic once m0's transport has marked m1 inactive (the check etcd makes).
    wait_until(lambda: m0.metric("etcd_network_active_peers") == [0.0], 30, "m1 seen down")
    m2 = etcd.member("m2")
    async with EtcdClient(m0.endpoint, timeout=SHORT) as client:
        for as_learner in (False, True):
            with pytest.raises(UnhealthyCluster, match="unhealthy cluster"):
                await client.member_add([m2.peer_url], is_learner=as_learner)
        m1.start([m0, m1])
        m1.wait_healthy()
        listed = await client.member_list()
    assert sorted(m.name for m in listed) == ["m0", "m1"]


# --- EtcdClient: failures that are not etcd's answers -----------------------------------------


@pytest.fixture(scope="module", params=MINORS)
def secure(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pki: PKI
) -> Iterator[tuple[EtcdProc, EtcdProc]]:
    """An mTLS member (client certificates required) and a plaintext one."""
    local = LocalEtcd(request.param, tmp_path_factory.mktemp(f"etcd-{request.param}"))
    tls = local.member("s0", pki.ca)
    plain = local.member("p0")
    for m in (tls, plain):
        m.start([m])
    try:
        for m in (tls, plain):
            m.wait_healthy()
        yield tls, plain
    finally:
        local.stop_all()


async def test_mtls_member_answers_the_right_client(
    secure: tuple[EtcdProc, EtcdProc], pki: PKI
) -> None:
    tls, _ = secure
    async with EtcdClient(tls.endpoint, pki.client) as client:
        [member] = await client.member_list()
        assert (await client.status()).member_id == member.id
    assert member.client_urls == (tls.client_url,)


def _without_client_cert(pki: PKI) -> TLSMaterial:
    return TLSMaterial(pki.client.ca, b"", b"")


def _untrusted_client_cert(pki: PKI) -> TLSMaterial:
    stranger = pki.stranger.issue("intruder", "clientAuth").material()
    return TLSMaterial(pki.client.ca, stranger.cert, stranger.key)


def _mismatched_key(pki: PKI) -> TLSMaterial:
    other = pki.ca.issue("other", "clientAuth").material()
    return TLSMaterial(pki.client.ca, pki.client.cert, other.key)


def _wrong_ca(pki: PKI) -> TLSMaterial:
    return TLSMaterial(pki.stranger.cert.read_bytes(), pki.client.cert, pki.client.key)


# (case, material, endpoint's server name, expected kind, reason in the message)
TLS_FAILURES = [
    ("client trusts another CA", _wrong_ca, None, TLSFailure, "not signed by the client's CA"),
    ("no client certificate", _without_client_cert, None, TLSFailure, "refused the client cert"),
    ("client cert of another CA", _untrusted_client_cert, None, TLSFailure, "refused the client"),
    ("certificate names another host", lambda p: p.client, "x.example", TLSFailure, "not name"),
    ("client key of another cert", _mismatched_key, None, TLSFailure, "own material is unusable"),
    ("plaintext client", lambda p: None, None, Unavailable, "Socket closed"),
]


@pytest.mark.parametrize(
    ("material", "server_name", "kind", "reason"),
    [case[1:] for case in TLS_FAILURES],
    ids=[case[0] for case in TLS_FAILURES],
)
async def test_mtls_failures_are_clear_and_quick(
    secure: tuple[EtcdProc, EtcdProc],
    pki: PKI,
    material: Callable[[PKI], TLSMaterial | None],
    server_name: str | None,
    kind: type[EtcdClientError],
    reason: str,
) -> None:
    tls, _ = secure
    endpoint = Endpoint(tls.endpoint.address, server_name or tls.endpoint.server_name)
    async with EtcdClient(endpoint, material(pki)) as client:
        took, error = await timed(client.member_list())
    assert type(error) is kind and reason in str(error), error
    assert took < client.timeout / 2, f"{took:.2f}s: a hang, not a refusal"


async def test_tls_client_at_a_plaintext_member(
    secure: tuple[EtcdProc, EtcdProc], pki: PKI
) -> None:
    _, plain = secure
    async with EtcdClient(plain.endpoint, pki.client) as client:
        took, error = await timed(client.member_list())
    assert isinstance(error, TLSFailure) and "plaintext" in str(error), error
    assert took < client.timeout / 2


async def test_nothing_listening_fails_at_once() -> None:
    async with EtcdClient(Endpoint(f"{HOST}:{free_port()}")) as client:
        took, error = await timed(client.member_list())
    assert isinstance(error, Unavailable) and "Connection refused" in str(error), error
    print(f"\nrefused: Unavailable after {took:.3f}s")
    assert took < client.timeout / 2


async def test_silent_listener_fails_at_the_dial_deadline() -> None:
    """A port that accepts connections and never speaks (a wedged process): the dial's
    deadline ends the call before its timeout, and later calls fail at once."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(8)
        endpoint = Endpoint(f"{HOST}:{listener.getsockname()[1]}")
        async with EtcdClient(endpoint, timeout=SHORT) as client:
            took, error = await timed(client.status())
            took_again, error_again = await timed(client.status())
    print(f"\nsilent listener: Unavailable after {took:.3f}s, then {took_again:.3f}s")
    for e in (error, error_again):
        assert type(e) is Unavailable and "before receiving SETTINGS" in str(e), e
    # A timer may fire a clock tick early, and late on a loaded machine.
    assert SHORT * DIAL_SHARE * 0.95 <= took < SHORT
    assert took_again < SHORT / 2


# --- EtcdPool ---------------------------------------------------------------------------------


@pytest.fixture
async def pool() -> AsyncIterator[EtcdPool]:
    pool = EtcdPool(timeout=SHORT)
    yield pool
    await pool.close()


async def test_pool_reuses_one_channel_per_endpoint(etcd: LocalEtcd, pool: EtcdPool) -> None:
    endpoints = [m.endpoint for m in etcd.cluster(3)]
    for _ in range(3):
        answered, members = await pool.member_list(endpoints, None)
        statuses = await pool.statuses(endpoints, None)
        assert answered in endpoints and len(members) == 3
        assert all(isinstance(s, EndpointStatus) for s in statuses.values())
    assert pool.opened == 3 and len(pool) == 3
    assert await pool.client(endpoints[0], None) is await pool.client(endpoints[0], None)
    assert pool.opened == 3


async def test_pool_replaces_the_channel_when_tls_material_changes(
    etcd: LocalEtcd, pool: EtcdPool, pki: PKI, tmp_path: Path
) -> None:
    """A rotation: the member's certificates re-issued by a new CA, then the operator's."""
    [m0] = etcd.cluster(1, pki.ca)
    old = await pool.client(m0.endpoint, pki.client)
    await pool.member_list([m0.endpoint], pki.client)

    rotated = CA(tmp_path / "rotated", "rotated")
    m0.stop()
    m0.tls = member_tls(rotated, "m0")
    m0.start([m0])
    m0.wait_healthy()
    with pytest.raises(TLSFailure):  # the pooled channel, redialled with the old material
        await pool.member_list([m0.endpoint], pki.client)
    assert pool.opened == 1

    material = rotated.issue("operator", "clientAuth").material()
    _, [member] = await pool.member_list([m0.endpoint], material)
    assert member.name == "m0"
    assert pool.opened == 2 and len(pool) == 1 and old.closed
    assert await pool.client(m0.endpoint, material) is not old


async def test_pool_concurrent_callers_after_a_rotation_share_one_channel(
    etcd: LocalEtcd, pool: EtcdPool, pki: PKI
) -> None:
    """Two passes asking at once with new material share one new channel; a call in flight
    on the old one fails as that call (EtcdClientError), not as its caller's cancellation."""
    [m0] = etcd.cluster(1, pki.ca)
    old = await pool.client(m0.endpoint, pki.client)
    m0.pause()
    in_flight = asyncio.ensure_future(old.member_list())
    await asyncio.sleep(0)  # let it reach gRPC
    renewed = pki.ca.issue("operator-renewed", "clientAuth").material()
    a, b = await asyncio.gather(
        pool.client(m0.endpoint, renewed), pool.client(m0.endpoint, renewed)
    )
    assert a is b and old.closed
    assert pool.opened == 2 and len(pool) == 1
    with pytest.raises(EtcdClientError, match="closed during the call"):
        await in_flight
    m0.resume()
    assert [m.name for m in await a.member_list()] == ["m0"]


async def test_pool_all_members_hung_costs_one_timeout(etcd: LocalEtcd, pool: EtcdPool) -> None:
    """Three members stop answering (SIGSTOP: connections stay up, as in a partition)."""
    members = etcd.cluster(3)
    endpoints = [m.endpoint for m in members]
    await pool.statuses(endpoints, None)  # every channel connected, as in a steady operator
    for m in members:
        m.pause()

    # Pooled connections wait out the timeout, once for all three, and are dropped.
    took_list, error = await timed(pool.member_list(endpoints, None))
    assert isinstance(error, NoAnswer) and str(error).count("no answer within") == 3, error
    assert len(pool) == 0
    # New channels: each dial ends at its deadline, before the timeout ...
    took_dial, statuses = await timed_value(pool.statuses(endpoints, None))
    assert all(type(s) is Unavailable for s in statuses.values()), statuses
    # ... and the channels fail at once afterwards, while they keep redialling.
    took_after, statuses = await timed_value(pool.statuses(endpoints, None))
    assert all(type(s) is Unavailable for s in statuses.values()), statuses
    print(
        f"\n{etcd.minor} 3 hung members, timeout {SHORT}s: member_list {took_list:.2f}s,"
        f" then statuses {took_dial:.2f}s (dial deadline), then {took_after:.3f}s"
    )
    assert SHORT * 0.95 <= took_list < 2 * SHORT  # one timeout, not three
    assert SHORT * DIAL_SHARE * 0.95 <= took_dial < SHORT
    assert took_after < SHORT / 2

    for m in members:
        m.resume()
    start = time.monotonic()
    await until_accepted(lambda: pool.member_list(endpoints, None), Unavailable, "answers")
    took_back = time.monotonic() - start
    print(f"{etcd.minor} resumed: the pool answered after {took_back:.2f}s")
    assert took_back < 3  # redial back-off capped at 1 s, jitter, a loaded machine
    assert pool.opened == 6


async def test_pool_all_members_stopped_fails_at_once(etcd: LocalEtcd, pool: EtcdPool) -> None:
    members = etcd.cluster(3)
    endpoints = [m.endpoint for m in members]
    await pool.member_list(endpoints, None)
    for m in members:
        m.stop()
    took, error = await timed(pool.member_list(endpoints, None))
    print(f"\n{etcd.minor} 3 stopped members: member_list Unavailable after {took:.3f}s")
    assert isinstance(error, Unavailable) and str(error).count("Connection refused") == 3, error
    assert took < SHORT / 2


async def test_pool_answers_from_the_member_that_is_up(etcd: LocalEtcd) -> None:
    """A hung follower, a silent port and a refused one before a member with quorum."""
    members = etcd.cluster(3)
    pool = EtcdPool()  # the operator's timeout: the answer must not wait for it
    try:
        answers = list((await pool.statuses([m.endpoint for m in members], None)).values())
        assert all(isinstance(s, EndpointStatus) for s in answers)
        statuses = cast(list[EndpointStatus], answers)  # as the assert just checked
        leader = statuses[0].leader
        followers = [m for m, s in zip(members, statuses, strict=True) if s.member_id != leader]
        hung = followers[0]
        up = next(m for m in members if m is not hung)
        hung.pause()
        with socket.socket() as silent:
            silent.bind((HOST, 0))
            silent.listen(8)
            endpoints = [
                hung.endpoint,
                Endpoint(f"{HOST}:{silent.getsockname()[1]}"),
                Endpoint(f"{HOST}:{free_port()}"),
                up.endpoint,
            ]
            start = time.monotonic()
            answered, listed = await pool.member_list(endpoints, None)
            took = time.monotonic() - start
    finally:
        await pool.close()
    print(f"\n{etcd.minor} hung, silent, refused and up endpoints: answered in {took:.3f}s")
    assert answered == up.endpoint and len(listed) == 3
    assert took < pool.timeout


async def test_pool_closes_idle_channels(etcd: LocalEtcd) -> None:
    [m0] = etcd.cluster(1)
    now = [1000.0]
    pool = EtcdPool(idle_seconds=60, clock=lambda: now[0])
    # Two endpoints of one member: the pool keys by endpoint, the member is the same.
    a, b = m0.endpoint, Endpoint(m0.endpoint.address, "other-name")
    try:
        first = await pool.client(a, None)
        await first.member_list()
        now[0] += 59
        assert await pool.client(a, None) is first  # used: its idle time restarts
        now[0] += 59
        await pool.client(b, None)
        assert not first.closed and len(pool) == 2
        now[0] += 61
        await pool.statuses([b], None)  # any use of the pool sweeps the idle
        assert first.closed and len(pool) == 1
        again = await pool.client(a, None)
        assert again is not first and len(await again.member_list()) == 1
        assert pool.opened == 3
    finally:
        await pool.close()


async def test_pool_channel_sees_a_member_back_from_an_outage(tmp_path: Path) -> None:
    """gRPC backs off redialling an unreachable member up to 120 s; a pooled channel must
    not keep failing once the member is back (8 s late after 30 s down with the defaults)."""
    local = LocalEtcd(MINORS[-1], tmp_path)
    try:
        [m0] = local.cluster(1)
        pool = EtcdPool(timeout=SHORT)
        await pool.member_list([m0.endpoint], None)
        m0.stop()
        down_until = time.monotonic() + 20  # back-off with the defaults: 1, 1.6, ... 6.5 s
        while time.monotonic() < down_until:  # the operator keeps asking while it is down
            with pytest.raises(Unavailable):
                await pool.member_list([m0.endpoint], None)
            await asyncio.sleep(0.5)
        m0.start([m0])
        m0.wait_healthy()
        back = time.monotonic()
        while True:
            try:
                await pool.member_list([m0.endpoint], None)
                break
            except Unavailable:
                await asyncio.sleep(0.05)
        late = time.monotonic() - back
        print(f"\npooled channel answered {late:.2f}s after the member was back")
        assert late < 3  # the 1 s cap with jitter, on a loaded machine
        assert pool.opened == 1
        await pool.close()
    finally:
        local.stop_all()


async def test_pool_call_in_flight_when_its_channel_is_evicted(
    etcd: LocalEtcd, pool: EtcdPool
) -> None:
    [m0] = etcd.cluster(1)
    client = await pool.client(m0.endpoint, None)
    m0.pause()
    in_flight = asyncio.ensure_future(client.member_list())
    await asyncio.sleep(0)  # let it reach gRPC
    await pool.evict(m0.endpoint)
    with pytest.raises(EtcdClientError, match="closed during the call"):
        await in_flight  # an error of the call, not a cancellation of its caller
    assert len(pool) == 0 and client.closed
    with pytest.raises(EtcdClientError, match="client is closed"):
        await client.status()
