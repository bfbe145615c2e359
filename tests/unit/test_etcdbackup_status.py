"""What an EtcdBackup's status says after each outcome, the Events, and what the replica
remembers (controller/etcdbackup/status.py). Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api import ConditionStatus, EtcdBackup, find_condition
from api.storage import S3Source
from controller.etcdbackup.outcome import BackupFailed, BackupTaken, Pruned
from controller.etcdbackup.planner import RETENTION, Memory
from controller.etcdbackup.status import (
    SUCCEEDED,
    outcome_events,
    recorded_status,
    remember,
    reported_status,
)
from controller.runtime.events import NORMAL, WARNING
from tests.seed import BACKUP, load_seed, set_field

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
TAKEN = BackupTaken(
    bucket="etcd-bucket",
    name="etcd.backup_v12_2026-11-30-11:59:58",
    size=24608,
    revision=12,
    etcd_version="3.6.16",
    endpoint="example-client.default.svc:2379",
    taken=NOW - timedelta(seconds=2),
    seconds=0.4,
)
FAILED = BackupFailed("S3Unreachable", "upload part 2: no answer from the S3 endpoint")


def backup(interval: int = 125, max_backups: int = 4, generation: int = 3) -> EtcdBackup:
    doc: dict[str, Any] = load_seed(BACKUP)
    set_field(doc, "metadata.namespace", "default")
    set_field(doc, "metadata.generation", generation)
    set_field(doc, "spec.backupPolicy.backupIntervalInSecond", interval)
    set_field(doc, "spec.backupPolicy.maxBackups", max_backups)
    return EtcdBackup.model_validate(doc)


def test_a_backup_taken_fills_the_coreos_fields_and_names_the_object() -> None:
    status = recorded_status(backup(), TAKEN, NOW)
    assert status.succeeded and status.reason is None
    assert (status.etcd_version, status.etcd_revision) == ("3.6.16", 12)
    assert status.last_success_date == TAKEN.taken and status.observed_generation == 3
    ok = find_condition(status.conditions, SUCCEEDED)
    assert ok is not None and ok.status == ConditionStatus.TRUE
    assert ok.message is not None
    assert "s3://etcd-bucket/etcd.backup_v12_2026-11-30-11:59:58: 24608 bytes" in ok.message
    retention = find_condition(status.conditions, RETENTION)
    assert retention is not None and retention.status == ConditionStatus.TRUE


def test_a_backup_taken_shows_its_object_as_a_restore_names_it_and_its_size() -> None:
    status = recorded_status(backup(), TAKEN, NOW)
    path = "etcd-bucket/etcd.backup_v12_2026-11-30-11:59:58"
    assert (status.last_backup_path, status.last_backup_size_bytes) == (path, 24608)
    wire = status.model_dump(by_alias=True, exclude_none=True)
    assert (wire["lastBackupPath"], wire["lastBackupSizeBytes"]) == (path, 24608)
    # What an EtcdRestore's spec.s3.path takes, bucket and key apart as the backup stored them.
    source = S3Source(path=path)
    assert (source.bucket, source.key) == (TAKEN.bucket, TAKEN.name)


def test_each_backup_taken_replaces_the_object_and_size() -> None:
    obj = backup()
    obj.status = recorded_status(backup(), TAKEN, NOW)
    later = BackupTaken(
        **{
            **TAKEN.__dict__,
            "name": "etcd.backup_v140_2026-11-30-12:02:03",
            "size": 1 << 33,  # beyond 32 bits: a large database
            "revision": 140,
        }
    )
    status = recorded_status(obj, later, NOW + timedelta(seconds=125))
    assert status.last_backup_path == "etcd-bucket/etcd.backup_v140_2026-11-30-12:02:03"
    assert status.last_backup_size_bytes == 1 << 33


def test_failures_reports_and_retention_passes_keep_the_last_object() -> None:
    obj = backup()
    obj.status = recorded_status(backup(), TAKEN, NOW)
    kept = ("etcd-bucket/etcd.backup_v12_2026-11-30-11:59:58", 24608)
    for status in (
        recorded_status(obj, FAILED, NOW),
        reported_status(obj, "SecretNotFound", "waiting for Secret aws", NOW),
        recorded_status(obj, Pruned(("etcd.backup_v1_2026-11-30-11:00:00",)), NOW),
    ):
        assert (status.last_backup_path, status.last_backup_size_bytes) == kept
    never = recorded_status(backup(), FAILED, NOW)
    assert (never.last_backup_path, never.last_backup_size_bytes) == (None, None)


def test_a_failure_keeps_the_last_success_and_says_why() -> None:
    before = recorded_status(backup(), TAKEN, NOW)
    obj = backup()
    obj.status = before
    status = recorded_status(obj, FAILED, NOW + timedelta(seconds=9))
    assert not status.succeeded and status.reason == FAILED.message
    assert status.last_success_date == TAKEN.taken and status.etcd_revision == 12
    failed = find_condition(status.conditions, SUCCEEDED)
    assert failed is not None and (failed.status, failed.reason) == (
        ConditionStatus.FALSE,
        "S3Unreachable",
    )


def test_retention_applies_only_to_periodic_backups_with_max_backups() -> None:
    failed_prune = BackupTaken(**{**TAKEN.__dict__, "prune_error": "retention: S3Unreachable"})
    status = recorded_status(backup(), failed_prune, NOW)
    retention = find_condition(status.conditions, RETENTION)
    assert status.succeeded and retention is not None
    assert (
        retention.status == ConditionStatus.FALSE and retention.message == failed_prune.prune_error
    )
    assert (
        find_condition(recorded_status(backup(interval=0), TAKEN, NOW).conditions, RETENTION)
        is None
    )
    assert (
        find_condition(recorded_status(backup(max_backups=0), TAKEN, NOW).conditions, RETENTION)
        is None
    )

    obj = backup()
    obj.status = status
    healed = recorded_status(obj, Pruned(("etcd.backup_v1_2026-11-30-11:00:00",)), NOW)
    assert healed.succeeded  # a retention pass does not touch the backup's own fields
    retention = find_condition(healed.conditions, RETENTION)
    assert retention is not None and retention.status == ConditionStatus.TRUE


def test_a_report_changes_only_the_outcome_fields() -> None:
    obj = backup()
    obj.status = recorded_status(backup(), TAKEN, NOW)
    status = reported_status(obj, "SecretNotFound", "waiting for Secret aws", NOW)
    assert not status.succeeded and status.reason == "waiting for Secret aws"
    assert status.last_success_date == TAKEN.taken


def test_events_per_backup_per_failure_and_per_pruning() -> None:
    pruned = BackupTaken(**{**TAKEN.__dict__, "pruned": ("a", "b")})
    assert [(t, r) for t, r, _ in outcome_events(pruned)] == [
        (NORMAL, "BackupSucceeded"),
        (NORMAL, "BackupsPruned"),
    ]
    assert outcome_events(FAILED) == [(WARNING, "S3Unreachable", FAILED.message)]
    assert outcome_events(Pruned(error="retention: boom")) == [
        (WARNING, "RetentionFailed", "retention: boom")
    ]


def test_memory_counts_failures_and_a_success_resets_them() -> None:
    memory = Memory(task_inputs="3/100")
    memory = remember(memory, backup(), FAILED, NOW)
    memory = remember(memory, backup(), FAILED, NOW + timedelta(seconds=5))
    assert (memory.failures, memory.last_failure, memory.failed_inputs) == (
        2,
        NOW + timedelta(seconds=5),
        "3/100",
    )
    memory = remember(memory, backup(), TAKEN, NOW + timedelta(seconds=20))
    assert (memory.failures, memory.last_failure, memory.failed_inputs) == (0, None, None)
    assert memory.last_success == TAKEN.taken and memory.succeeded_generation == 3
    assert memory.retention_failed is False

    memory = remember(memory, backup(), Pruned(error="x"), NOW + timedelta(seconds=30))
    assert memory.retention_failed and memory.prune_failed_at == NOW + timedelta(seconds=30)
    assert memory.last_success == TAKEN.taken  # a retention pass is not a backup
