"""A small async etcd client for the operator: membership and status of one member endpoint.

The one place (with the other clients) that imports etcd3aio and grpc. Every call is bounded by
a timeout; answers are plain dataclasses and failures one of a few exception types, so the
reconcilers never see protobuf or gRPC. Mutating calls are tried once: after an ambiguous
failure the next reconcile reads the member list and decides again (level-based).
"""

from __future__ import annotations

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
        await self._client.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.close()

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
    "LearnerNotReady",
    "Member",
    "MemberNotFound",
    "TLSMaterial",
    "TooManyLearners",
    "Unavailable",
    "UnhealthyCluster",
]
