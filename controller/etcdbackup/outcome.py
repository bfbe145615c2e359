"""What a backup or retention task ends with: plain values the planner and status read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class BackupTaken:
    """A verified snapshot stored as `bucket/name`, and what retention did afterwards."""

    bucket: str
    name: str
    size: int
    revision: int
    etcd_version: str
    endpoint: str
    taken: datetime  # when the snapshot was asked for (the time in a periodic name)
    seconds: float
    pruned: tuple[str, ...] = ()
    prune_error: str | None = None  # retention failed; the backup itself is good


@dataclass(frozen=True)
class Pruned:
    """A retention pass on its own (after one failed): what it deleted, or why it failed."""

    pruned: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class BackupFailed:
    """No backup: `reason` is a CamelCase cause (S3Unreachable, EtcdUnavailable, ...)."""

    reason: str
    message: str


Outcome = BackupTaken | Pruned | BackupFailed
