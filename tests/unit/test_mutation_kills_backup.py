"""The EtcdBackup status, Events and memory after an outcome (controller/etcdbackup/status.py),
which no unit test covered: every mutant of it survived."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from api import BackupStatus, EtcdBackup, find_condition
from controller.etcdbackup.outcome import BackupFailed, BackupTaken, Pruned
from controller.etcdbackup.planner import RETENTION, Memory
from controller.etcdbackup.status import (
    missing_secrets_message,
    outcome_events,
    recorded_status,
    remember,
    reported_status,
)
from tests.seed import BACKUP, load_seed, set_field

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
TAKEN = NOW - timedelta(seconds=3)
OK = BackupTaken(
    bucket="etcd-bucket",
    name="etcd.backup_v101_2026-11-30-11:59:57",
    size=2048,
    revision=101,
    etcd_version="3.6.16",
    endpoint="example-client.default.svc:2379",
    taken=TAKEN,
    seconds=1.25,
)
DESCRIBED = (
    "s3://etcd-bucket/etcd.backup_v101_2026-11-30-11:59:57: 2048 bytes, revision 101 of "
    "example-client.default.svc:2379 (etcd 3.6.16), in 1.2s"
)


def backup(generation: int = 3, **fields: Any) -> EtcdBackup:
    doc = load_seed(BACKUP)
    set_field(doc, "metadata.namespace", "default")
    set_field(doc, "metadata.generation", generation)
    for path, value in fields.items():
        set_field(doc, path, value)
    return EtcdBackup.model_validate(doc)


def condition(status: BackupStatus, kind: str) -> tuple[str, str | None, str | None]:
    found = find_condition(status.conditions, kind)
    assert found is not None, kind
    return found.status, found.reason, found.message


def test_a_backup_taken_succeeds_with_its_object_and_retention_applied() -> None:
    status = recorded_status(backup(), OK, NOW)
    assert status.succeeded is True and status.reason is None
    assert (status.etcd_version, status.etcd_revision) == ("3.6.16", 101)
    assert status.last_success_date == TAKEN and status.observed_generation == 3
    assert condition(status, "Succeeded") == ("True", "BackupSucceeded", DESCRIBED)
    assert condition(status, RETENTION) == (
        "True",
        "Applied",
        "at most the newest 4 backups are kept",
    )
    succeeded = find_condition(status.conditions, "Succeeded")
    assert succeeded is not None and succeeded.last_transition_time == NOW


def test_a_failed_retention_after_a_good_backup_is_its_own_condition() -> None:
    status = recorded_status(backup(), replace(OK, prune_error="S3 said no"), NOW)
    assert status.succeeded is True
    assert condition(status, RETENTION) == ("False", "Failed", "S3 said no")
    healed = recorded_status(backup(status=status.model_dump(by_alias=True)), Pruned(), NOW)
    assert condition(healed, RETENTION)[0] == "True"
    again = recorded_status(backup(), Pruned(error="still no"), NOW)
    assert condition(again, RETENTION) == ("False", "Failed", "still no")


def test_no_retention_condition_without_max_backups_or_when_one_shot() -> None:
    for edited in (
        backup(**{"spec.backupPolicy.maxBackups": 0}),
        backup(**{"spec.backupPolicy.backupIntervalInSecond": 0}),
    ):
        previous = recorded_status(backup(), OK, NOW)  # it had one
        edited.status = previous
        status = recorded_status(edited, OK, NOW)
        assert find_condition(status.conditions, RETENTION) is None


def test_a_failure_keeps_the_last_success_and_says_why() -> None:
    good = recorded_status(backup(), OK, NOW)
    failed = recorded_status(
        backup(status=good.model_dump(by_alias=True)),
        BackupFailed("S3Unreachable", "no route to bucket"),
        NOW,
    )
    assert failed.succeeded is False and failed.reason == "no route to bucket"
    assert (failed.etcd_revision, failed.last_success_date) == (101, TAKEN)
    assert condition(failed, "Succeeded") == ("False", "S3Unreachable", "no route to bucket")
    assert condition(failed, RETENTION)[0] == "True"  # untouched by a failed backup


def test_a_backup_that_cannot_start_is_reported() -> None:
    status = reported_status(backup(generation=7), "SecretNotFound", "no aws", NOW)
    assert status.succeeded is False and status.reason == "no aws"
    assert status.observed_generation == 7
    assert condition(status, "Succeeded") == ("False", "SecretNotFound", "no aws")
    assert missing_secrets_message(("aws", "tls")) == (
        "waiting for Secret aws, tls in the backup's namespace"
    )


def test_events_of_each_outcome() -> None:
    assert outcome_events(OK) == [("Normal", "BackupSucceeded", DESCRIBED)]
    both = replace(OK, pruned=("old1", "old2"), prune_error="could not delete old3")
    assert outcome_events(both) == [
        ("Normal", "BackupSucceeded", DESCRIBED),
        ("Normal", "BackupsPruned", "deleted old1, old2"),
        ("Warning", "RetentionFailed", "could not delete old3"),
    ]
    assert outcome_events(Pruned(pruned=("old",))) == [("Normal", "BackupsPruned", "deleted old")]
    assert outcome_events(Pruned(error="denied")) == [("Warning", "RetentionFailed", "denied")]
    assert outcome_events(Pruned()) == []
    assert outcome_events(BackupFailed("EtcdUnavailable", "no member")) == [
        ("Warning", "EtcdUnavailable", "no member")
    ]


def test_memory_after_each_outcome() -> None:
    start = Memory(failures=2, last_failure=NOW - timedelta(minutes=1), task_inputs="v2")
    failed = remember(start, backup(), BackupFailed("X", "y"), NOW)
    assert (failed.failures, failed.last_failure, failed.failed_inputs) == (3, NOW, "v2")
    assert failed.last_success is None and failed.retention_failed is None

    taken = remember(failed, backup(generation=5), OK, NOW)
    assert (taken.last_success, taken.succeeded_generation) == (TAKEN, 5)
    assert (taken.failures, taken.last_failure, taken.failed_inputs) == (0, None, None)
    assert (taken.retention_failed, taken.prune_failed_at) == (False, None)

    prune_failed = remember(taken, backup(generation=5), replace(OK, prune_error="no"), NOW)
    assert (prune_failed.retention_failed, prune_failed.prune_failed_at) == (True, NOW)

    pruned = remember(prune_failed, backup(generation=9), Pruned(), NOW)
    assert (pruned.retention_failed, pruned.prune_failed_at) == (False, None)
    assert pruned.succeeded_generation == 5  # a retention pass is not a backup

    still = remember(pruned, backup(), Pruned(error="again"), NOW)
    assert (still.retention_failed, still.prune_failed_at) == (True, NOW)
    assert still.last_success == TAKEN
