"""Backup object names and the retention rule. Pure.

A one-shot backup is stored exactly under the key of `spec.s3.path` ("bucket/key"); periodic
ones under `<key>_v<revision>_<UTC time as Go's 2006-01-02-15:04:05>`, as the CoreOS operator
named them (`etcd.backup_v2_2019-10-11-08:53:40`). Retention keeps the newest `maxBackups`
by revision, then time — numbers compared as numbers, so `_v10_` is newer than `_v9_` — and
only ever names objects of this exact pattern under this exact key: anything else in the
bucket, another backup's objects included, is never chosen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

TIME_FORMAT = "%Y-%m-%d-%H:%M:%S"  # Go's 2006-01-02-15:04:05


@dataclass(frozen=True)
class PeriodicName:
    name: str
    revision: int
    taken: datetime


def periodic_name(key: str, revision: int, taken: datetime) -> str:
    return f"{key}_v{revision}_{taken.astimezone(UTC).strftime(TIME_FORMAT)}"


def periodic_prefix(key: str) -> str:
    """What every periodic object name of `key` starts with (an S3 list prefix)."""
    return f"{key}_v"


def parse_periodic(key: str, name: str) -> PeriodicName | None:
    """The revision and time of a periodic object of `key`, or None if `name` is not one."""
    match = re.fullmatch(
        re.escape(key) + r"_v(0|[1-9][0-9]*)_(\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d)", name
    )
    if match is None:
        return None
    try:
        taken = datetime.strptime(match.group(2), TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:  # shaped like a time, but not one (month 13)
        return None
    return PeriodicName(name, int(match.group(1)), taken)


def is_ours(key: str, name: str, periodic: bool) -> bool:
    """Whether this backup writes objects named `name`."""
    return parse_periodic(key, name) is not None if periodic else name == key


def to_prune(key: str, names: Iterable[str], keep: int) -> list[str]:
    """The periodic backups of `key` beyond the newest `keep` (0 keeps all), oldest first."""
    if keep <= 0:
        return []
    ours = [p for p in (parse_periodic(key, n) for n in names) if p is not None]
    ours.sort(key=lambda p: (p.revision, p.taken, p.name), reverse=True)
    return [p.name for p in reversed(ours[keep:])]
