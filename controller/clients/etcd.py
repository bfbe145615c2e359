"""A small async etcd client for the operator: membership, status and maintenance
(defragmentation, alarms, compaction) of member endpoints.

The one place (with the other clients) that imports etcd3aio and grpc. Every call is bounded by
a timeout; answers are plain dataclasses and failures one of a few exception types, so the
reconcilers never see protobuf or gRPC. Mutating calls are tried once: after an ambiguous
failure the next reconcile reads the member list and decides again (level-based).

`EtcdPool` keeps one channel per (endpoint, TLS material) across passes, so a steady cluster
costs no new connection per reconcile; material that changes (a rotated Secret) replaces the
channel, channels unused for a while are closed, and a channel whose member stopped
answering is dropped (gRPC would keep the silent connection). It asks several members at
once: the first good member list wins, so a cluster with every member down costs one
timeout, not one per member.

The channels are built here (etcd3aio supplies the service stubs) because long-lived channels
need gRPC arguments etcd3aio does not expose: see CHANNEL_OPTIONS.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import grpc
import grpc.aio
from etcd3aio.cluster import ClusterService
from etcd3aio.errors import EtcdError
from etcd3aio.kv import KVService
from etcd3aio.maintenance import AlarmType, MaintenanceService

DEFAULT_TIMEOUT = 5.0
# Defragment rewrites a member's whole database file while the member serves nothing; on a
# database of several GiB on a slow disk that takes minutes. Its own deadline, not the
# call timeout (a cancelled defragmentation is harmless: etcd finishes or drops it).
DEFRAGMENT_TIMEOUT = 600.0
T = TypeVar("T")

CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    # gRPC waits longer and longer between dials of an unreachable address (up to 120 s) and
    # meanwhile fails every call at once, so a pooled channel would ignore a member back from
    # an outage: 8 s late after a 30 s outage, measured. Redialling a down member each second
    # costs one refused TCP connect.
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # Pings on a connection with a call in flight are meant to find a peer gone silent (they
    # did not find a stopped member here: NoAnswer says what does). An idle channel sends at
    # most two (gRPC's max_pings_without_data), which etcd's keepalive enforcement
    # tolerates: idle pooled channels stayed connected, measured.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    # gRPC shares connections between channels to one address by default, so a channel made
    # to replace one whose member went silent would get the same dead connection back.
    ("grpc.use_local_subchannel_pool", 1),
)
# The deadline of one dial (TCP, TLS and HTTP/2 handshakes; gRPC's default is 20 s) as a
# share of the call timeout: a dial to a member that accepts connections but never answers
# (stopped, partitioned) fails the call before its timeout, and from then on the channel
# fails calls at once (while it keeps redialling) instead of making each wait its timeout.
DIAL_SHARE = 0.6


@dataclass(frozen=True)
class TLSMaterial:
    """PEM bytes of the operator's client certificate and the CA that signed the members'.

    Empty `cert` and `key` mean no client certificate (members that do not require one)."""

    ca: bytes
    cert: bytes
    key: bytes


@dataclass(frozen=True)
class Endpoint:
    """One member's client address (`ip:port`) and the DNS name its certificate carries."""

    address: str
    server_name: str | None = None


@dataclass(frozen=True)
class Member:
    """A member as etcd lists it; an unstarted member has no name and no client URLs yet."""

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool

    @property
    def started(self) -> bool:
        return bool(self.name)


NOSPACE = "NOSPACE"  # the alarm a member raises when its database file reaches its quota
CORRUPT = "CORRUPT"  # the alarm of a failed consistency check


@dataclass(frozen=True)
class Alarm:
    """An active alarm: `alarm` is etcd's name of it (NOSPACE, CORRUPT), `member_id` the
    member that raised it."""

    member_id: int
    alarm: str


# How etcd lists an active alarm among a status's errors (protobuf's text form of the
# AlarmMember; 3.6 ends it with a space, 3.7 does not).
_ALARM_ERROR = re.compile(r"^memberID:(\d+) alarm:([A-Z]+)\s*$")


@dataclass(frozen=True)
class EndpointStatus:
    """Maintenance.Status of one member: who it thinks leads, how far its raft log is, how
    big its database file is. `errors` lists etcd's words, active alarms among them (every
    member lists every alarm of the cluster): `alarms` and `problems` split them."""

    member_id: int
    leader: int
    raft_index: int
    raft_term: int
    raft_applied_index: int
    version: str
    db_size: int
    is_learner: bool
    errors: tuple[str, ...]
    revision: int = 0  # the member's own key-value revision (answered without quorum)
    db_size_in_use: int = 0  # bytes of the database file in use; the rest defragment frees
    db_size_quota: int = 0  # the member's --quota-backend-bytes (etcd fills in its default)

    @property
    def alarms(self) -> tuple[Alarm, ...]:
        """The cluster's active alarms, as this member lists them."""
        found = (_ALARM_ERROR.match(e) for e in self.errors)
        return tuple(Alarm(int(m[1]), m[2]) for m in found if m)

    @property
    def problems(self) -> tuple[str, ...]:
        """The errors that are not alarms (e.g. "etcdserver: no leader")."""
        return tuple(e for e in self.errors if not _ALARM_ERROR.match(e))


class EtcdClientError(Exception):
    """Any failure talking to etcd."""


class Unavailable(EtcdClientError):
    """The member could not be reached or did not answer in time."""


class NoAnswer(Unavailable):
    """The call's timeout passed: on a connection that was up, the member went silent.

    gRPC keeps such a connection (its keepalive did not notice a stopped member), so the pool
    drops the channel: a fresh one dials, and a dial is bounded (DIAL_SHARE)."""


class TLSFailure(EtcdClientError):
    """The member was reached but no TLS session came about (certificates, names, CAs)."""


class LearnerNotReady(EtcdClientError):
    """Promote refused: the learner has not caught up with the leader yet."""


class MemberNotFound(EtcdClientError):
    """The member id is not (or no longer) in the cluster."""


class TooManyLearners(EtcdClientError):
    """MemberAdd refused: the cluster already has its maximum of learners."""


class UnhealthyCluster(EtcdClientError):
    """etcd refused a membership change that could cost quorum."""


class NoSpace(EtcdClientError):
    """A write refused under a NOSPACE alarm ("mvcc: database space exceeded")."""


class Compacted(EtcdClientError):
    """The revision asked for is at or below the one already compacted to."""


class EtcdClient:
    """One member endpoint: `async with EtcdClient(endpoint, tls) as c: await c.member_list()`."""

    def __init__(
        self, endpoint: Endpoint, tls: TLSMaterial | None = None, timeout: float = DEFAULT_TIMEOUT
    ):
        self.endpoint = endpoint
        self.tls = tls
        self.timeout = timeout
        self._channel: grpc.aio.Channel | None = None
        self._cluster: ClusterService | None = None
        self._maintenance: MaintenanceService | None = None
        self._kv: KVService | None = None

    async def __aenter__(self) -> EtcdClient:
        await self.connect()
        return self

    async def connect(self) -> None:
        """Opens the channel (gRPC then connects, and reconnects, on its own)."""
        self.open()

    def open(self) -> None:
        """`connect` without an await, so the pool can swap channels without yielding."""
        if self._channel is not None:
            return
        self._channel = _channel(self.endpoint, self.tls, self.timeout * DIAL_SHARE)
        # Reads are retried once (a pooled connection may have just been reset); writes never.
        self._cluster = ClusterService(self._channel, max_attempts=2)
        self._maintenance = MaintenanceService(self._channel, max_attempts=2)
        self._kv = KVService(self._channel, max_attempts=1)  # the operator only compacts

    @property
    def closed(self) -> bool:
        return self._channel is None

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        self._cluster = self._maintenance = None
        self._kv = None
        if channel is not None:
            await channel.close()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def member_list(self, linearizable: bool = True) -> list[Member]:
        """The membership; linearizable=False is the member's own view, answered even
        without quorum (what quorum-loss recovery reads)."""
        resp = await self._call(
            lambda c, _: c.member_list(linearizable=linearizable, timeout=self.timeout)
        )
        return [_member(m) for m in resp.members]

    async def member_add(self, peer_urls: Sequence[str], is_learner: bool) -> Member:
        resp = await self._call(
            lambda c, _: c.member_add(
                list(peer_urls), is_learner=is_learner, timeout=self.timeout, max_attempts=1
            )
        )
        return _member(resp.member)

    async def member_promote(self, member_id: int) -> None:
        await self._call(
            lambda c, _: c.member_promote(member_id, timeout=self.timeout, max_attempts=1)
        )

    async def member_remove(self, member_id: int) -> None:
        await self._call(
            lambda c, _: c.member_remove(member_id, timeout=self.timeout, max_attempts=1)
        )

    async def move_leader(self, target_id: int) -> None:
        """Hands leadership to `target_id`; must be sent to the current leader."""
        await self._call(
            lambda _, m: m.move_leader(target_id, timeout=self.timeout, max_attempts=1)
        )

    async def status(self) -> EndpointStatus:
        resp = await self._call(lambda _, m: m.status(timeout=self.timeout))
        return EndpointStatus(
            member_id=resp.header.member_id,
            leader=resp.leader,
            raft_index=resp.raftIndex,
            raft_term=resp.raftTerm,
            raft_applied_index=resp.raftAppliedIndex,
            version=resp.version,
            db_size=resp.dbSize,
            is_learner=resp.isLearner,
            errors=tuple(resp.errors),
            revision=resp.header.revision,
            db_size_in_use=resp.dbSizeInUse,
            db_size_quota=resp.dbSizeQuota,
        )

    async def defragment(self, timeout: float = DEFRAGMENT_TIMEOUT) -> None:
        """Defragments this member's database file; it serves nothing until done (blocking
        for up to `timeout`). Tried once: a second one right after a timeout would only
        make the member wait longer."""
        await self._call(
            lambda _, m: m.defragment(timeout=timeout, max_attempts=1), timeout=timeout
        )

    async def alarm_list(self) -> list[Alarm]:
        """The cluster's active alarms (a linearizable read: needs quorum)."""
        resp = await self._call(lambda _, m: m.alarms(timeout=self.timeout))
        return [Alarm(a.memberID, _alarm_name(a.alarm)) for a in resp.alarms]

    async def alarm_disarm(self, member_id: int, alarm: str = NOSPACE) -> list[Alarm]:
        """Deactivates `member_id`'s `alarm`; returns the alarms it deactivated (none when it
        was not active). A NOSPACE alarm comes back on the next write that does not fit."""
        kind = AlarmType[alarm]
        resp = await self._call(
            lambda _, m: m.alarm_deactivate(
                kind, member_id=member_id, timeout=self.timeout, max_attempts=1
            )
        )
        return [Alarm(a.memberID, _alarm_name(a.alarm)) for a in resp.alarms]

    async def compact(
        self, revision: int, physical: bool = False, timeout: float | None = None
    ) -> None:
        """Drops the key history before `revision`; physical=True returns once the space is
        free in the database file (what a defragmentation after it reclaims). Raises
        Compacted when the history was already compacted to `revision` or further."""
        wait = timeout or self.timeout
        kv = self._kv

        async def call(_: ClusterService, __: MaintenanceService) -> None:
            assert kv is not None  # _call checked the client is open
            await kv.compact(revision, physical=physical, timeout=wait, max_attempts=1)

        await self._call(call, timeout=wait)

    async def _call(
        self,
        rpc: Callable[[ClusterService, MaintenanceService], Awaitable[T]],
        timeout: float | None = None,
    ) -> T:
        address = self.endpoint.address
        if self._cluster is None or self._maintenance is None:
            raise EtcdClientError(f"{address}: the client is closed")
        try:
            return await rpc(self._cluster, self._maintenance)
        except TimeoutError as exc:
            waited = timeout or self.timeout
            raise NoAnswer(f"{address}: no answer within {waited:g}s") from exc
        except grpc.aio.AioRpcError as exc:
            raise error_for(exc.code(), exc.details() or "", address, self.tls is not None) from exc
        except EtcdError as exc:
            # etcd3aio wraps UNAVAILABLE answers, etcd's "unhealthy cluster" among them.
            cause, tls = exc.__cause__, self.tls is not None
            if isinstance(cause, grpc.aio.AioRpcError):
                raise error_for(cause.code(), cause.details() or "", address, tls) from exc
            raise Unavailable(f"{address}: {exc}") from exc
        except asyncio.CancelledError:
            # gRPC cancels the calls of a channel being closed (the pool replaced it): that is
            # this call failing, not its caller being cancelled, which must still propagate.
            task = asyncio.current_task()
            if self._channel is None and task is not None and not task.cancelling():
                raise EtcdClientError(f"{address}: the client was closed during the call") from None
            raise


def _channel(
    endpoint: Endpoint,
    tls: TLSMaterial | None,
    dial_timeout: float = DEFAULT_TIMEOUT * DIAL_SHARE,
) -> grpc.aio.Channel:
    options: list[tuple[str, str | int]] = [
        *CHANNEL_OPTIONS,
        ("grpc.min_reconnect_backoff_ms", int(dial_timeout * 1000)),  # the dial deadline
    ]
    if tls is None:
        return grpc.aio.insecure_channel(endpoint.address, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.ca,
        private_key=tls.key or None,
        certificate_chain=tls.cert or None,
    )
    if endpoint.server_name:
        # The address is a pod IP; the certificate names the member's DNS name.
        options.append(("grpc.ssl_target_name_override", endpoint.server_name))
    return grpc.aio.secure_channel(endpoint.address, credentials, options=options)


@dataclass
class _Pooled:
    tls: TLSMaterial | None
    client: EtcdClient
    last_used: float


class EtcdPool:
    """Connected clients by endpoint, reused across reconciles (see the module docstring)."""

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        idle_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.timeout = timeout
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._clients: dict[Endpoint, _Pooled] = {}
        self.opened = 0  # channels ever opened (for benchmarks and tests)

    def __len__(self) -> int:
        return len(self._clients)

    async def client(self, endpoint: Endpoint, tls: TLSMaterial | None) -> EtcdClient:
        """The pooled client of `endpoint`; a new one when its TLS material changed.

        The pool changes without an await in between, so concurrent callers of one endpoint
        share one channel; replaced and idle channels are closed afterwards."""
        now = self._clock()
        retired = self._take_idle(now, keep=endpoint)
        pooled = self._clients.get(endpoint)
        if pooled is None or pooled.tls != tls:
            if pooled is not None:
                retired.append(pooled.client)
            client = EtcdClient(endpoint, tls, timeout=self.timeout)
            client.open()
            self.opened += 1
            pooled = self._clients[endpoint] = _Pooled(tls, client, now)
        pooled.last_used = now
        for old in retired:
            await old.close()
        return pooled.client

    async def evict(self, endpoint: Endpoint) -> None:
        pooled = self._clients.pop(endpoint, None)
        if pooled is not None:
            await pooled.client.close()

    async def member_list(
        self, endpoints: Sequence[Endpoint], tls: TLSMaterial | None, linearizable: bool = True
    ) -> tuple[Endpoint, list[Member]]:
        """The member list from whichever endpoint answers first (all are asked at once)."""
        if not endpoints:
            raise Unavailable("no member endpoint to ask")

        async def ask(endpoint: Endpoint) -> tuple[Endpoint, list[Member]]:
            return endpoint, await self.ask(endpoint, tls, lambda c: c.member_list(linearizable))

        pending = {asyncio.ensure_future(ask(e)) for e in endpoints}
        errors: list[EtcdClientError] = []
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                # Every finished task's outcome is read (an unread exception is logged as
                # "never retrieved"), then the first answer wins.
                outcomes = [(task, task.exception()) for task in done]
                for task, exc in outcomes:
                    if exc is None:
                        return task.result()
                for _, exc in outcomes:
                    if not isinstance(exc, EtcdClientError):
                        raise exc  # type: ignore[misc]
                    errors.append(exc)
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        # One kind of failure everywhere (every member refusing our certificate) keeps its kind.
        kinds = {type(e) for e in errors}
        kind = kinds.pop() if len(kinds) == 1 else Unavailable
        raise kind("; ".join(map(str, errors)))

    async def statuses(
        self, endpoints: Sequence[Endpoint], tls: TLSMaterial | None
    ) -> dict[Endpoint, EndpointStatus | EtcdClientError]:
        """Every endpoint's status (or why it gave none), asked in parallel."""

        async def ask(endpoint: Endpoint) -> EndpointStatus | EtcdClientError:
            try:
                return await self.ask(endpoint, tls, EtcdClient.status)
            except EtcdClientError as exc:
                return exc

        answers = await asyncio.gather(*(ask(e) for e in endpoints))
        return dict(zip(endpoints, answers, strict=True))

    async def close(self) -> None:
        clients = [p.client for p in self._clients.values()]
        self._clients.clear()
        for client in clients:
            await client.close()

    async def ask(
        self,
        endpoint: Endpoint,
        tls: TLSMaterial | None,
        call: Callable[[EtcdClient], Awaitable[T]],
    ) -> T:
        """`call` on the pooled client; a channel whose member went silent is dropped.

        E.g. `await pool.ask(endpoint, tls, EtcdClient.alarm_list)`."""
        client = await self.client(endpoint, tls)
        try:
            return await call(client)
        except NoAnswer:
            pooled = self._clients.get(endpoint)
            if pooled is not None and pooled.client is client:
                await self.evict(endpoint)
            raise

    def _take_idle(self, now: float, keep: Endpoint) -> list[EtcdClient]:
        """Removes the clients unused for idle_seconds (but `keep`'s) from the pool."""
        idle = [
            e
            for e, p in self._clients.items()
            if e != keep and now - p.last_used > self.idle_seconds
        ]
        return [self._clients.pop(e).client for e in idle]


# etcd's error strings (server/etcdserver/api/v3rpc/rpctypes) → the cases the operator acts on.
# A promote of a voter ("can only promote a learner member") stays a plain EtcdClientError.
_MESSAGES: tuple[tuple[str, type[EtcdClientError]], ...] = (
    ("can only promote a learner member which is in sync with leader", LearnerNotReady),
    ("member not found", MemberNotFound),
    ("too many learner members", TooManyLearners),
    ("unhealthy cluster", UnhealthyCluster),
    ("re-configuration failed due to not enough started members", UnhealthyCluster),
    ("mvcc: database space exceeded", NoSpace),
    ("mvcc: required revision has been compacted", Compacted),
)

# What gRPC's status details say when TLS fails, and what that means. A member rejecting the
# client's certificate shows up only after the handshake under TLS 1.3 (the alert arrives
# with the first data), as an undecryptable record.
_TLS_FAILURES: tuple[tuple[str, str], ...] = (
    ("Hostname Verification", "the member's certificate does not name the expected host"),
    ("CERTIFICATE_VERIFY_FAILED", "the member's certificate is not signed by the client's CA"),
    ("TSI_DATA_CORRUPTED", "the member refused the client certificate (none, or an untrusted CA)"),
    ("Handshake read failed", "the member hung up in the TLS handshake (does it serve plaintext?)"),
    ("andshake failed", "the TLS handshake failed"),
    (
        "security handshaker",
        "the client's own material is unusable (not PEM, or key and cert differ)",
    ),
)


def error_for(code: grpc.StatusCode, details: str, address: str, tls: bool) -> EtcdClientError:
    """The exception for a failed call: etcd's refusals by message, then TLS, then by code."""
    for fragment, kind in _MESSAGES:
        if fragment in details:
            return kind(f"{address}: {details}")
    if tls:
        for fragment, meaning in _TLS_FAILURES:
            if fragment in details:
                return TLSFailure(f"{address}: TLS: {meaning} ({details})")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable(f"{address}: {code.name} {details}")
    return EtcdClientError(f"{address}: {code.name} {details}")


def _alarm_name(value: int) -> str:
    try:
        return AlarmType(value).name
    except ValueError:  # an alarm this etcd3aio does not know yet
        return str(value)


def _member(m: Any) -> Member:
    return Member(
        id=m.ID,
        name=m.name,
        peer_urls=tuple(m.peerURLs),
        client_urls=tuple(m.clientURLs),
        is_learner=m.isLearner,
    )


__all__ = [
    "CHANNEL_OPTIONS",
    "CORRUPT",
    "DEFAULT_TIMEOUT",
    "DEFRAGMENT_TIMEOUT",
    "DIAL_SHARE",
    "NOSPACE",
    "Alarm",
    "Compacted",
    "Endpoint",
    "EndpointStatus",
    "EtcdClient",
    "EtcdClientError",
    "EtcdPool",
    "LearnerNotReady",
    "Member",
    "MemberNotFound",
    "NoAnswer",
    "NoSpace",
    "TLSFailure",
    "TLSMaterial",
    "TooManyLearners",
    "Unavailable",
    "UnhealthyCluster",
    "error_for",
]
