"""etcd snapshots as a verified byte stream, for backups.

`choose_source` asks every endpoint for its status (answered by the member itself: its
key-value revision and version), and picks the most up-to-date one, as the CoreOS operator did.
`open_snapshot` streams Maintenance.Snapshot from it: the bytes `etcdctl snapshot save`
writes, whose last 32 are the SHA-256 of all before. The stream is hashed as it flows, the
last 32 bytes held back, and they are handed on only once they match (the check is
controller.clients.snapshotstream's, shared with restores) — so a consumer that
completes its upload after the stream ended stores only a whole, verified snapshot, and
memory stays at one gRPC message (32 KiB) whatever the database size.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import grpc.aio
from etcd3aio.errors import EtcdError
from etcd3aio.maintenance import MaintenanceService

from controller.clients.etcd import (
    CHANNEL_OPTIONS,
    DEFAULT_TIMEOUT,
    Endpoint,
    EtcdClientError,
    TLSMaterial,
    Unavailable,
    error_for,
)
from controller.clients.snapshotstream import TRAILER as TRAILER  # re-exported
from controller.clients.snapshotstream import TrailerCheck

# gRPC grows a stream's flow-control window with its bandwidth-delay probes; while the
# consumer waits for an S3 part, the member keeps sending into it, and the operator held tens
# of MiB that way (measured). A fixed window makes a stalled consumer stall the member; at
# gRPC's default 64 KiB the stream ran at ~0.7x etcdctl, at 1 MiB as fast (bench/RESULTS.md).
SNAPSHOT_WINDOW = 1024 * 1024
SNAPSHOT_OPTIONS = (("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", SNAPSHOT_WINDOW))


class SnapshotCorrupt(EtcdClientError):
    """The stream ended without a matching SHA-256 trailer (cut off or damaged)."""


@dataclass(frozen=True)
class SnapshotSource:
    endpoint: Endpoint
    revision: int
    version: str


async def choose_source(
    endpoints: Sequence[Endpoint], tls: TLSMaterial | None, timeout: float = DEFAULT_TIMEOUT
) -> SnapshotSource:
    """The endpoint with the highest revision (ties: the first listed); raises the failure
    of every endpoint when none answered."""
    if not endpoints:
        raise Unavailable("no etcd endpoint to back up from")
    answers = await asyncio.gather(*(_source(e, tls, timeout) for e in endpoints))
    sources = [a for a in answers if isinstance(a, SnapshotSource)]
    if sources:
        return max(sources, key=lambda s: s.revision)
    errors = [a for a in answers if isinstance(a, EtcdClientError)]
    kinds = {type(e) for e in errors}
    kind = kinds.pop() if len(kinds) == 1 else Unavailable
    raise kind("; ".join(map(str, errors)))


async def _source(
    endpoint: Endpoint, tls: TLSMaterial | None, timeout: float
) -> SnapshotSource | EtcdClientError:
    channel = _channel(endpoint, tls)
    try:
        # Status is answered by the member itself, quorum or not; its header carries the
        # member's key-value revision.
        status = await MaintenanceService(channel).status(timeout=timeout, max_attempts=1)
        return SnapshotSource(endpoint, status.header.revision, status.version)
    except Exception as exc:  # every endpoint's failure is reported, none raised alone
        return _translate(exc, endpoint, tls is not None)
    finally:
        await channel.close()


class SnapshotStream:
    """The snapshot's bytes (trailer included) as they arrive; `verified` turns True just
    before the trailer is handed on, and a stream that does not verify raises
    SnapshotCorrupt instead of ending."""

    def __init__(self, maintenance: MaintenanceService, endpoint: Endpoint, tls: bool):
        self._maintenance = maintenance
        self._endpoint = endpoint
        self._tls = tls
        self.size = 0
        self.verified = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        check = TrailerCheck()
        try:
            async for blob in self._maintenance.snapshot(max_attempts=1):
                body = check.feed(blob)
                if body:
                    self.size += len(body)
                    yield body
        except Exception as exc:
            raise _translate(exc, self._endpoint, self._tls) from exc
        if not check.verified:
            raise SnapshotCorrupt(
                f"{self._endpoint.address}: snapshot of {check.size} bytes ends without a "
                "matching SHA-256 (cut off or damaged)"
            )
        self.verified = True
        self.size += len(check.held)
        yield check.held


@asynccontextmanager
async def open_snapshot(
    endpoint: Endpoint, tls: TLSMaterial | None
) -> AsyncIterator[SnapshotStream]:
    """A snapshot stream from `endpoint` on a channel of its own, closed on exit.

    No deadline here: a snapshot takes as long as the database is big; the caller bounds
    the whole backup, and the channel's keepalive finds a member that vanished."""
    channel = _channel(endpoint, tls)
    try:
        yield SnapshotStream(MaintenanceService(channel, max_attempts=1), endpoint, tls is not None)
    finally:
        await channel.close()


def _channel(endpoint: Endpoint, tls: TLSMaterial | None) -> grpc.aio.Channel:
    """A channel of its own for one backup (a snapshot must not share a pooled one)."""
    options: list[tuple[str, str | int]] = [*CHANNEL_OPTIONS, *SNAPSHOT_OPTIONS]
    if tls is None:
        return grpc.aio.insecure_channel(endpoint.address, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.ca, private_key=tls.key or None, certificate_chain=tls.cert or None
    )
    if endpoint.server_name:
        options.append(("grpc.ssl_target_name_override", endpoint.server_name))
    return grpc.aio.secure_channel(endpoint.address, credentials, options=options)


def _translate(exc: BaseException, endpoint: Endpoint, secure: bool) -> EtcdClientError:
    """etcd3aio's and gRPC's failures as the etcd client's exception kinds."""
    address = endpoint.address
    if isinstance(exc, EtcdClientError):
        return exc
    if isinstance(exc, TimeoutError):
        return Unavailable(f"{address}: no answer in time")
    if isinstance(exc, EtcdError) and isinstance(exc.__cause__, grpc.aio.AioRpcError):
        exc = exc.__cause__
    if isinstance(exc, grpc.aio.AioRpcError):
        return error_for(exc.code(), exc.details() or "", address, secure)
    if isinstance(exc, EtcdError):
        return Unavailable(f"{address}: {exc}")
    raise exc
