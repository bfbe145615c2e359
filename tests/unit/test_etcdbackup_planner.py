"""The EtcdBackup planner's table: observed backup, task, memory and time → the one action.

Backups are the seed's periodic_backup_cr.yaml (every 125 s, keep 4) or its one-shot form
(interval 0). The rules under test: the interval counts from the last success; after an
outage only one backup is taken, not one per missed interval; a failure backs off; the
cache lagging behind this replica's own status write never starts a second backup.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import Condition, ConditionStatus, EtcdBackup
from controller.etcdbackup.outcome import BackupFailed, BackupTaken, Pruned
from controller.etcdbackup.planner import (
    RETENTION,
    Action,
    Done,
    Ended,
    Memory,
    Observed,
    Record,
    ReportBadSpec,
    Running,
    StartBackup,
    StartPrune,
    WaitForSecrets,
    WaitForTask,
    WaitUntil,
    plan,
)
from tests.seed import BACKUP, load_seed, set_field

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
INTERVAL = 125


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def backup(
    interval: int = INTERVAL,
    generation: int = 1,
    last_success: datetime | None = None,
    succeeded: bool = False,
    observed_generation: int | None = None,
    retention: ConditionStatus | None = None,
) -> EtcdBackup:
    doc: dict[str, Any] = load_seed(BACKUP)
    set_field(doc, "metadata.namespace", "default")
    set_field(doc, "metadata.generation", generation)
    set_field(doc, "spec.backupPolicy.backupIntervalInSecond", interval)
    obj = EtcdBackup.model_validate(doc)
    obj.status.last_success_date = last_success
    obj.status.succeeded = succeeded
    obj.status.observed_generation = observed_generation
    if retention is not None:
        obj.status.conditions.append(Condition(type=RETENTION, status=retention))
    return obj


TAKEN = BackupTaken("b", "k", 10, 5, "3.6.16", "e:2379", ago(1), 0.5)
FAILED = BackupFailed("S3Unreachable", "no answer")
ONE_SHOT_DONE = backup(interval=0, succeeded=True, observed_generation=1)

CASES: dict[str, tuple[Observed, Action]] = {
    # --- reports and tasks come first ---
    "a bad spec is reported": (
        Observed(backup(), problem=("StorageTypeNotSupported", "ABS")),
        ReportBadSpec("StorageTypeNotSupported", "ABS"),
    ),
    "a running backup is waited for, even when another would be due": (
        Observed(backup(last_success=ago(999)), task=Running()),
        WaitForTask(),
    ),
    "a backup that ended is recorded": (
        Observed(backup(), task=Ended(TAKEN)),
        Record(TAKEN),
    ),
    "a failure is recorded": (Observed(backup(), task=Ended(FAILED)), Record(FAILED)),
    "a cancelled task is only forgotten": (Observed(backup(), task=Ended(None)), Record(None)),
    # --- periodic: the interval counts from the last success ---
    "the first periodic backup starts at once": (Observed(backup()), StartBackup()),
    "the next one waits for the interval": (
        Observed(backup(last_success=ago(10))),
        WaitUntil(ago(10) + timedelta(seconds=INTERVAL)),
    ),
    "it starts when the interval has passed": (
        Observed(backup(last_success=ago(INTERVAL))),
        StartBackup(),
    ),
    "after an outage of many intervals: one backup now": (
        Observed(backup(last_success=ago(30 * INTERVAL))),
        StartBackup(),
    ),
    "... and the interval counts from that one, no burst": (
        Observed(backup(last_success=ago(30 * INTERVAL)), memory=Memory(last_success=ago(1))),
        WaitUntil(ago(1) + timedelta(seconds=INTERVAL)),
    ),
    "the cache not showing this replica's write yet starts nothing": (
        Observed(backup(last_success=None), memory=Memory(last_success=ago(2))),
        WaitUntil(ago(2) + timedelta(seconds=INTERVAL)),
    ),
    "a newer durable success than memory's wins": (
        Observed(backup(last_success=ago(5)), memory=Memory(last_success=ago(100))),
        WaitUntil(ago(5) + timedelta(seconds=INTERVAL)),
    ),
    # --- failures back off, from 5 s doubling ---
    "one failure: 5 s": (
        Observed(backup(), memory=Memory(failures=1, last_failure=ago(2))),
        WaitUntil(later(3)),
    ),
    "three failures: 20 s": (
        Observed(backup(), memory=Memory(failures=3, last_failure=ago(2))),
        WaitUntil(later(18)),
    ),
    "the back-off ends": (
        Observed(backup(), memory=Memory(failures=3, last_failure=ago(20))),
        StartBackup(),
    ),
    "a periodic back-off is capped by the interval": (
        Observed(backup(interval=30), memory=Memory(failures=9, last_failure=ago(1))),
        WaitUntil(later(29)),
    ),
    "a one-shot back-off is capped at 5 min": (
        Observed(backup(interval=0), memory=Memory(failures=30, last_failure=ago(1))),
        WaitUntil(later(299)),
    ),
    "a changed Secret or spec is tried at once": (
        Observed(
            backup(),
            memory=Memory(failures=5, last_failure=ago(2), failed_inputs="1/100"),
            inputs_version="1/107",
        ),
        StartBackup(),
    ),
    "... unchanged ones wait": (
        Observed(
            backup(),
            memory=Memory(failures=1, last_failure=ago(2), failed_inputs="1/100"),
            inputs_version="1/100",
        ),
        WaitUntil(later(3)),
    ),
    "a failure does not move the interval of a later success": (
        Observed(backup(last_success=ago(100)), memory=Memory(failures=1, last_failure=ago(1))),
        WaitUntil(ago(100) + timedelta(seconds=INTERVAL)),
    ),
    # --- one-shot ---
    "a one-shot backup starts": (Observed(backup(interval=0)), StartBackup()),
    "a one-shot backup that succeeded is done": (Observed(ONE_SHOT_DONE), Done()),
    "... until the spec changes": (
        Observed(backup(interval=0, generation=2, succeeded=True, observed_generation=1)),
        StartBackup(),
    ),
    "a one-shot success the cache does not show yet is done": (
        Observed(backup(interval=0), memory=Memory(succeeded_generation=1)),
        Done(),
    ),
    "a one-shot failure is retried after its back-off": (
        Observed(backup(interval=0), memory=Memory(failures=1, last_failure=ago(9))),
        StartBackup(),
    ),
    # --- Secrets matter only when a backup is due ---
    "a missing Secret blocks a due backup": (
        Observed(backup(), missing_secrets=("aws",)),
        WaitForSecrets(("aws",)),
    ),
    "a missing Secret is not reported before the backup is due": (
        Observed(backup(last_success=ago(10)), missing_secrets=("aws",)),
        WaitUntil(ago(10) + timedelta(seconds=INTERVAL)),
    ),
    # --- retention that failed behind a good backup is retried on its own ---
    "failed retention is retried between backups": (
        Observed(backup(last_success=ago(10), retention=ConditionStatus.FALSE)),
        StartPrune(),
    ),
    "... not more often than every 30 s": (
        Observed(
            backup(last_success=ago(10), retention=ConditionStatus.FALSE),
            memory=Memory(retention_failed=True, prune_failed_at=ago(10)),
        ),
        WaitUntil(later(20)),
    ),
    "... nor after this replica saw it succeed": (
        Observed(
            backup(last_success=ago(10), retention=ConditionStatus.FALSE),
            memory=Memory(retention_failed=False),
        ),
        WaitUntil(ago(10) + timedelta(seconds=INTERVAL)),
    ),
    "a due backup goes before retention (it prunes too)": (
        Observed(backup(last_success=ago(200), retention=ConditionStatus.FALSE)),
        StartBackup(),
    ),
    "retention that holds needs nothing": (
        Observed(backup(last_success=ago(10), retention=ConditionStatus.TRUE)),
        WaitUntil(ago(10) + timedelta(seconds=INTERVAL)),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_plan(case: str) -> None:
    observed, expected = CASES[case]
    assert plan(observed, NOW) == expected


def test_a_pruned_outcome_is_recorded_like_any_other() -> None:
    outcome = Pruned(("etcd.backup_v1_2024-01-01-00:00:00",))
    assert plan(Observed(backup(), task=Ended(outcome)), NOW) == Record(outcome)
