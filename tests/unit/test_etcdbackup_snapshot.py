"""The snapshot stream's SHA-256 trailer check (controller/clients/etcdsnapshot.py).

A stand-in for etcd3aio's MaintenanceService replays message sequences as etcd sends them:
the database in pieces, then the 32-byte digest. A whole stream passes on every byte; a
cut-off or damaged one raises SnapshotCorrupt and never hands on its last 32 bytes, so an
upload that completes only after the stream ended cannot store it.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence

import grpc
import pytest
from etcd3aio.errors import EtcdConnectionError

from controller.clients.etcd import Endpoint, Unavailable
from controller.clients.etcdsnapshot import TRAILER, SnapshotCorrupt, SnapshotStream

ENDPOINT = Endpoint("10.0.0.1:2379")
DB = bytes(range(256)) * 300  # 76,800 bytes


class Replay:
    """Maintenance.snapshot yielding the given messages, then failing with `error` if set."""

    def __init__(self, messages: Sequence[bytes], error: Exception | None = None):
        self.messages = messages
        self.error = error

    async def snapshot(self, max_attempts: int | None = None) -> AsyncIterator[bytes]:
        for message in self.messages:
            yield message
        if self.error is not None:
            raise self.error


def etcd_messages(db: bytes, size: int = 32 * 1024) -> list[bytes]:
    """What etcd sends: the database in `size` pieces, then its SHA-256 on its own."""
    return [db[i : i + size] for i in range(0, len(db), size)] + [hashlib.sha256(db).digest()]


async def drain(stream: SnapshotStream) -> tuple[bytes, Exception | None]:
    got = bytearray()
    try:
        async for chunk in stream:
            got += chunk
    except Exception as exc:
        return bytes(got), exc
    return bytes(got), None


@pytest.mark.parametrize(
    "messages",
    [
        etcd_messages(DB),
        etcd_messages(DB, size=4096),
        # The digest split across messages, and a message shorter than the trailer.
        [DB[:-10], DB[-10:] + hashlib.sha256(DB).digest()[:5], hashlib.sha256(DB).digest()[5:]],
        [DB + hashlib.sha256(DB).digest()],
        [b"", DB, b"", hashlib.sha256(DB).digest()],
    ],
)
async def test_a_whole_stream_passes_every_byte_and_verifies(messages: list[bytes]) -> None:
    stream = SnapshotStream(Replay(messages), ENDPOINT, tls=True)  # type: ignore[arg-type]
    got, error = await drain(stream)
    assert error is None
    assert got == DB + hashlib.sha256(DB).digest()
    assert stream.verified and stream.size == len(DB) + TRAILER


@pytest.mark.parametrize(
    "messages",
    [
        etcd_messages(DB)[:-1],  # cut off before the digest
        etcd_messages(DB)[:1],  # cut off in the middle
        [DB, hashlib.sha256(DB).digest()[:31]],  # the digest cut short
        [DB[:100] + b"X" + DB[101:], hashlib.sha256(DB).digest()],  # a damaged byte
        [hashlib.sha256(b"").digest()[:20]],  # shorter than a digest
        [],
    ],
)
async def test_a_cut_off_or_damaged_stream_is_corrupt_and_keeps_its_tail(
    messages: list[bytes],
) -> None:
    stream = SnapshotStream(Replay(messages), ENDPOINT, tls=False)  # type: ignore[arg-type]
    got, error = await drain(stream)
    assert isinstance(error, SnapshotCorrupt) and "10.0.0.1:2379" in str(error)
    sent = b"".join(messages)
    assert got == sent[:-TRAILER]  # the last 32 bytes never reach the consumer
    assert not stream.verified


async def test_a_connection_lost_mid_stream_is_unavailable_not_corrupt() -> None:
    rpc_error = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "Socket closed"
    )
    lost = EtcdConnectionError("Maintenance.Snapshot failed")
    lost.__cause__ = rpc_error
    stream = SnapshotStream(
        Replay(etcd_messages(DB)[:2], error=lost),  # type: ignore[arg-type]
        ENDPOINT,
        tls=True,
    )
    got, error = await drain(stream)
    assert isinstance(error, Unavailable) and "Socket closed" in str(error)
    assert len(got) == 2 * 32 * 1024 - TRAILER and not stream.verified
