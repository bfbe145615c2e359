"""The SHA-256 trailer check restores share with backups (controller/clients/snapshotstream.py):
pieces of any size, a trailer split anywhere, a damaged byte, a stream cut short, a file."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from controller.clients.snapshotstream import TRAILER, TrailerCheck, TrailerMismatch, verify_file

DB = bytes(range(256)) * 300  # 76,800 bytes
GOOD = DB + hashlib.sha256(DB).digest()


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def feed_all(parts: Sequence[bytes | bytearray | memoryview]) -> tuple[TrailerCheck, bytes]:
    check = TrailerCheck()
    out = b"".join(check.feed(p) for p in parts)
    return check, out


@pytest.mark.parametrize("size", [1, 7, 31, 32, 33, 4096, len(GOOD) - 1, len(GOOD)])
def test_a_whole_stream_verifies_in_pieces_of_any_size(size: int) -> None:
    check, out = feed_all(pieces(GOOD, size))
    assert check.verified and check.size == len(GOOD) and check.body_size == len(DB)
    assert out == DB and check.held == GOOD[-TRAILER:]  # the trailer is held, never handed on
    check.check()


def test_empty_pieces_change_nothing() -> None:
    check, out = feed_all([b"", DB[:10], b"", DB[10:], b"", hashlib.sha256(DB).digest(), b""])
    assert check.verified and out == DB


def test_bytearray_and_memoryview_pieces() -> None:
    check, out = feed_all([bytearray(GOOD[:100]), memoryview(GOOD)[100:]])
    assert check.verified and out == DB


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (DB[:100] + b"X" + DB[101:] + hashlib.sha256(DB).digest(), "not the SHA-256 of the 76800"),
        (GOOD[:-1], "not the SHA-256"),  # cut off in the trailer
        (DB, "not the SHA-256"),  # no trailer at all
        (GOOD + b"\n", "not the SHA-256"),  # something after it
        (b"", "0 bytes is too short"),
        (hashlib.sha256(b"").digest()[:20], "20 bytes is too short"),
    ],
)
def test_a_damaged_or_cut_stream_does_not_verify(data: bytes, words: str) -> None:
    check, out = feed_all(pieces(data, 1000))
    assert not check.verified
    assert words in check.problem()
    assert out == data[:-TRAILER]
    with pytest.raises(TrailerMismatch, match=words):
        check.check()


def test_exactly_a_trailer_of_nothing_verifies() -> None:
    check, out = feed_all([hashlib.sha256(b"").digest()])
    assert check.verified and out == b"" and check.size == TRAILER


def test_verify_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.db", tmp_path / "bad.db"
    good.write_bytes(GOOD)
    bad.write_bytes(GOOD[:5000] + bytes([GOOD[5000] ^ 1]) + GOOD[5001:])
    assert verify_file(good, chunk=1000) == len(GOOD)
    with pytest.raises(TrailerMismatch):
        verify_file(bad, chunk=1000)
    with pytest.raises(FileNotFoundError):
        verify_file(tmp_path / "missing.db")
