"""A small async etcd client for the operator: membership and status of member endpoints.

The one place (with the other clients) that imports etcd3aio and grpc. Every call is bounded by
a timeout; answers are plain dataclasses and failures one of a few exception types, so the
reconcilers never see protobuf or gRPC. Mutating calls are tried once: after an ambiguous
failure the next reconcile reads the member list and decides again (level-based).

`EtcdPool` keeps one channel per (endpoint, TLS material) across passes, so a steady cluster
costs no new connection per reconcile; material that changes (a rotated Secret) replaces the
channel, and channels unused for a while are closed. It asks several members at once: the
first good member list wins, so a cluster with every member down costs one timeout, not one
per member.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import grpc
import grpc.aio
from etcd3aio import Etcd3Client
from etcd3aio.cluster import ClusterService
from etcd3aio.errors import EtcdError

DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class TLSMaterial:
    """PEM bytes of the operator's client certificate and the CA that signed the members'."""

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


@dataclass(frozen=True)
class EndpointStatus:
    """Maintenance.Status of one member: who it thinks leads, how far its raft log is."""

    member_id: int
    leader: int
    raft_index: int
    raft_term: int
    raft_applied_index: int
    version: str
    db_size: int
    is_learner: bool
    errors: tuple[str, ...]


class EtcdClientError(Exception):
    """Any failure talking to etcd."""


class Unavailable(EtcdClientError):
    """The member could not be reached or did not answer in time."""


class LearnerNotReady(EtcdClientError):
    """Promote refused: the learner has not caught up with the leader yet."""


class MemberNotFound(EtcdClientError):
    """The member id is not (or no longer) in the cluster."""


class TooManyLearners(EtcdClientError):
    """MemberAdd refused: the cluster already has its maximum of learners."""


class UnhealthyCluster(EtcdClientError):
    """etcd refused a membership change that could cost quorum."""


class EtcdClient:
    """One member endpoint: `async with EtcdClient(endpoint, tls) as c: await c.member_list()`."""

    def __init__(
        self, endpoint: Endpoint, tls: TLSMaterial | None = None, timeout: float = DEFAULT_TIMEOUT
    ):
        self.endpoint = endpoint
        self.timeout = timeout
        tls_args: dict[str, Any] = {}
        if tls is not None:
            tls_args = {"ca_cert": tls.ca, "cert_chain": tls.cert, "cert_key": tls.key}
        self._client = Etcd3Client(
            [endpoint.address],
            rpc_max_attempts=2,
            tls_server_name=endpoint.server_name if tls is not None else None,
            **tls_args,
        )

    async def __aenter__(self) -> EtcdClient:
        await self.connect()
        return self

    async def connect(self) -> None:
        """Opens the channel (gRPC then connects, and reconnects, on its own)."""
        await self._client.connect()

    async def close(self) -> None:
        await self._client.close()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def _cluster(self) -> ClusterService:
        """The Cluster service; set from connect (`async with`) until close."""
        cluster = self._client.cluster
        assert cluster is not None
        return cluster

    async def member_list(self) -> list[Member]:
        resp = await self._call(self._cluster.member_list(linearizable=True, timeout=self.timeout))
        return [_member(m) for m in resp.members]

    async def member_add(self, peer_urls: Sequence[str], is_learner: bool) -> Member:
        resp = await self._call(
            self._cluster.member_add(
                list(peer_urls), is_learner=is_learner, timeout=self.timeout, max_attempts=1
            )
        )
        return _member(resp.member)

    async def member_promote(self, member_id: int) -> None:
        await self._call(
            self._cluster.member_promote(member_id, timeout=self.timeout, max_attempts=1)
        )

    async def member_remove(self, member_id: int) -> None:
        await self._call(
            self._cluster.member_remove(member_id, timeout=self.timeout, max_attempts=1)
        )

    async def status(self) -> EndpointStatus:
        maintenance = self._client.maintenance
        assert maintenance is not None
        resp = await self._call(maintenance.status(timeout=self.timeout))
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
        )

    async def _call(self, call: Any) -> Any:
        try:
            return await call
        except TimeoutError as exc:
            raise Unavailable(f"{self.endpoint.address}: timed out") from exc
        except grpc.aio.AioRpcError as exc:
            raise _map_rpc_error(exc, self.endpoint.address) from exc
        except EtcdError as exc:
            # etcd3aio wraps UNAVAILABLE answers, etcd's "unhealthy cluster" among them.
            if isinstance(exc.__cause__, grpc.aio.AioRpcError):
                raise _map_rpc_error(exc.__cause__, self.endpoint.address) from exc
            raise Unavailable(f"{self.endpoint.address}: {exc}") from exc


@dataclass
class _Pooled:
    tls: TLSMaterial | None
    client: EtcdClient
    last_used: float


class EtcdPool:
    """Connected clients by endpoint, reused across reconciles (see the module docstring)."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, idle_seconds: float = 300.0):
        self.timeout = timeout
        self.idle_seconds = idle_seconds
        self._clients: dict[Endpoint, _Pooled] = {}
        self.opened = 0  # channels ever opened (for benchmarks and tests)

    def __len__(self) -> int:
        return len(self._clients)

    async def client(self, endpoint: Endpoint, tls: TLSMaterial | None) -> EtcdClient:
        """The pooled client of `endpoint`; a new one when its TLS material changed."""
        now = time.monotonic()
        pooled = self._clients.get(endpoint)
        if pooled is not None and pooled.tls == tls:
            pooled.last_used = now
            return pooled.client
        if pooled is not None:
            await self.evict(endpoint)
        client = EtcdClient(endpoint, tls, timeout=self.timeout)
        await client.connect()
        self.opened += 1
        self._clients[endpoint] = _Pooled(tls, client, now)
        await self._close_idle(now)
        return client

    async def evict(self, endpoint: Endpoint) -> None:
        pooled = self._clients.pop(endpoint, None)
        if pooled is not None:
            await pooled.client.close()

    async def member_list(
        self, endpoints: Sequence[Endpoint], tls: TLSMaterial | None
    ) -> tuple[Endpoint, list[Member]]:
        """The member list from whichever endpoint answers first (all are asked at once)."""
        if not endpoints:
            raise Unavailable("no member endpoint to ask")

        async def ask(endpoint: Endpoint) -> tuple[Endpoint, list[Member]]:
            client = await self.client(endpoint, tls)
            return endpoint, await client.member_list()

        pending = {asyncio.ensure_future(ask(e)) for e in endpoints}
        errors: list[str] = []
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    exc = task.exception()
                    if exc is None:
                        return task.result()
                    if not isinstance(exc, EtcdClientError):
                        raise exc
                    errors.append(str(exc))
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        raise Unavailable("; ".join(errors))

    async def statuses(
        self, endpoints: Sequence[Endpoint], tls: TLSMaterial | None
    ) -> dict[Endpoint, EndpointStatus | EtcdClientError]:
        """Every endpoint's status (or why it gave none), asked in parallel."""

        async def ask(endpoint: Endpoint) -> EndpointStatus | EtcdClientError:
            try:
                return await (await self.client(endpoint, tls)).status()
            except EtcdClientError as exc:
                return exc

        answers = await asyncio.gather(*(ask(e) for e in endpoints))
        return dict(zip(endpoints, answers, strict=True))

    async def close(self) -> None:
        for endpoint in list(self._clients):
            await self.evict(endpoint)

    async def _close_idle(self, now: float) -> None:
        for endpoint, pooled in list(self._clients.items()):
            if now - pooled.last_used > self.idle_seconds:
                await self.evict(endpoint)


# etcd's error strings (server/etcdserver/errors) → the few cases the operator acts on.
_MESSAGES: tuple[tuple[str, type[EtcdClientError]], ...] = (
    ("can only promote a learner member which is in sync with leader", LearnerNotReady),
    ("member not found", MemberNotFound),
    ("too many learner members", TooManyLearners),
    ("unhealthy cluster", UnhealthyCluster),
    ("re-configuration failed due to not enough started members", UnhealthyCluster),
)


def _map_rpc_error(exc: grpc.aio.AioRpcError, address: str) -> EtcdClientError:
    details = exc.details() or ""
    for fragment, kind in _MESSAGES:
        if fragment in details:
            return kind(f"{address}: {details}")
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable(f"{address}: {exc.code().name} {details}")
    return EtcdClientError(f"{address}: {exc.code().name} {details}")


def _member(m: Any) -> Member:
    return Member(
        id=m.ID,
        name=m.name,
        peer_urls=tuple(m.peerURLs),
        client_urls=tuple(m.clientURLs),
        is_learner=m.isLearner,
    )


__all__ = [
    "DEFAULT_TIMEOUT",
    "Endpoint",
    "EndpointStatus",
    "EtcdClient",
    "EtcdClientError",
    "EtcdPool",
    "LearnerNotReady",
    "Member",
    "MemberNotFound",
    "TLSMaterial",
    "TooManyLearners",
    "Unavailable",
    "UnhealthyCluster",
]
