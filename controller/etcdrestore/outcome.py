"""What a verification task ends with: plain values the planner and status read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackupVerified:
    """`bucket/key` was read whole and its last 32 bytes are the SHA-256 of all before."""

    bucket: str
    key: str
    size: int
    seconds: float
    generation: int | None  # metadata.generation of the spec the task verified


@dataclass(frozen=True)
class VerifyFailed:
    """The object could not be verified: `reason` is a CamelCase cause (reasons.py); a
    terminal one (BackupCorrupt) fails the restore, the others are retried."""

    reason: str
    message: str
    generation: int | None
    terminal: bool = False


Outcome = BackupVerified | VerifyFailed
