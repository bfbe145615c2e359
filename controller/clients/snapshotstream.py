"""Byte streams that end in the SHA-256 of everything before them, checked as they flow.

An etcd snapshot — what Maintenance.Snapshot sends and `etcdctl snapshot save` writes, so
every backup object — is the database followed by 32 bytes of SHA-256 of the database.
`TrailerCheck` takes such a stream in pieces of any size (none need align with the trailer)
and hands each piece back without its last 32 bytes, which it holds until the next piece or
the end: a consumer sees the trailer only after `verified` turned True, and memory stays at
one piece whatever the stream's length. `verify_file` checks a file the same way.

No I/O library here: the etcd snapshot client, the restore's verification of an S3 object
and the restore's fetch program share it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

TRAILER = 32  # bytes of SHA-256 at the end of every snapshot
CHUNK = 1024 * 1024


class TrailerMismatch(ValueError):
    """The stream ended without a matching SHA-256 trailer (cut off, damaged or too short)."""


class TrailerCheck:
    """Incremental check of a stream whose last 32 bytes are the SHA-256 of all before."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.held = b""  # the last TRAILER bytes seen: the trailer, if the stream ends here
        self.body_size = 0  # bytes hashed (and handed back by `feed`)

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Takes the next piece; returns the bytes now known not to be trailer (hashed)."""
        if not data:
            return b""
        joined = self.held + bytes(data) if self.held else bytes(data)
        body, self.held = joined[:-TRAILER], joined[-TRAILER:]
        if body:
            self._digest.update(body)
            self.body_size += len(body)
        return body

    @property
    def size(self) -> int:
        """Every byte fed so far, trailer included."""
        return self.body_size + len(self.held)

    @property
    def verified(self) -> bool:
        """Whether the bytes fed so far end with the SHA-256 of all before them."""
        return len(self.held) == TRAILER and self._digest.digest() == self.held

    def problem(self) -> str:
        """Why the stream fed so far does not verify (a phrase for error messages)."""
        if len(self.held) < TRAILER:
            return f"{self.size} bytes is too short for a snapshot (a 32-byte SHA-256 ends one)"
        return (
            f"its last 32 bytes are not the SHA-256 of the {self.body_size} bytes before them "
            "(cut off or damaged)"
        )

    def check(self) -> None:
        """Raises TrailerMismatch unless the stream fed so far verifies."""
        if not self.verified:
            raise TrailerMismatch(self.problem())


def verify_file(path: Path, chunk: int = CHUNK) -> int:
    """The size of the file at `path` if it ends with the SHA-256 of all before; raises
    TrailerMismatch if not (OSError if it cannot be read). Reads `chunk` bytes at a time."""
    check = TrailerCheck()
    with path.open("rb") as f:
        while piece := f.read(chunk):
            check.feed(piece)
    check.check()
    return check.size
