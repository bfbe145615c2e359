"""The status an EtcdBackup should show, the Events its backups deserve, and what this replica
remembers after recording an outcome. Pure.

CoreOS's fields: `succeeded` (the latest attempt), `Reason` (why it failed, as text),
`etcdVersion`, `etcdRevision` and `lastSuccessDate` (of the latest success; a failure leaves
them). Ours: the latest success's object, `lastBackupPath` ("<bucket>/<key>", as an
EtcdRestore's s3.path takes it) and `lastBackupSizeBytes` (kept by a failure too),
`observedGeneration` and two conditions — Succeeded (reason BackupSucceeded,
or the cause of the failure, with the object's name and size in the message) and Retention
(periodic backups with maxBackups: whether the newest-N rule holds after the latest pass).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from api import BackupStatus, ConditionStatus, EtcdBackup, remove_condition, set_condition
from controller.etcdbackup.outcome import BackupFailed, BackupTaken, Outcome, Pruned
from controller.etcdbackup.planner import RETENTION, Memory
from controller.runtime.events import NORMAL, WARNING

SUCCEEDED = "Succeeded"
BACKUP_SUCCEEDED = "BackupSucceeded"
SECRET_NOT_FOUND = "SecretNotFound"
Event = tuple[str, str, str]  # (type, reason, message)


def recorded_status(backup: EtcdBackup, outcome: Outcome, now: datetime) -> BackupStatus:
    status = _base(backup)
    conditions = status.conditions
    if isinstance(outcome, BackupTaken):
        status.succeeded, status.reason = True, None
        status.etcd_version, status.etcd_revision = outcome.etcd_version, outcome.revision
        status.last_success_date = outcome.taken
        status.last_backup_path = f"{outcome.bucket}/{outcome.name}"
        status.last_backup_size_bytes = outcome.size
        set_condition(
            conditions, SUCCEEDED, ConditionStatus.TRUE, BACKUP_SUCCEEDED, describe(outcome), now
        )
        _retention(backup, status, outcome.prune_error, now)
    elif isinstance(outcome, Pruned):
        _retention(backup, status, outcome.error, now)
    else:
        _failed(status, outcome.reason, outcome.message, now)
    return status


def reported_status(backup: EtcdBackup, reason: str, message: str, now: datetime) -> BackupStatus:
    """A backup that cannot start: a bad spec or Secret, or a Secret missing."""
    status = _base(backup)
    _failed(status, reason, message, now)
    return status


def missing_secrets_message(names: tuple[str, ...]) -> str:
    return f"waiting for Secret {', '.join(names)} in the backup's namespace"


def _base(backup: EtcdBackup) -> BackupStatus:
    status = backup.status.model_copy(deep=True)
    status.observed_generation = backup.metadata.generation
    return status


def _failed(status: BackupStatus, reason: str, message: str, now: datetime) -> None:
    status.succeeded, status.reason = False, message
    set_condition(status.conditions, SUCCEEDED, ConditionStatus.FALSE, reason, message, now)


def _retention(backup: EtcdBackup, status: BackupStatus, error: str | None, now: datetime) -> None:
    policy = backup.spec.backup_policy
    if not backup.spec.is_periodic or not policy or policy.max_backups <= 0:
        remove_condition(status.conditions, RETENTION)
    elif error is None:
        keep = f"at most the newest {policy.max_backups} backups are kept"
        set_condition(status.conditions, RETENTION, ConditionStatus.TRUE, "Applied", keep, now)
    else:
        set_condition(status.conditions, RETENTION, ConditionStatus.FALSE, "Failed", error, now)


def describe(taken: BackupTaken) -> str:
    return (
        f"s3://{taken.bucket}/{taken.name}: {taken.size} bytes, revision {taken.revision} "
        f"of {taken.endpoint} (etcd {taken.etcd_version}), in {taken.seconds:.1f}s"
    )


def outcome_events(outcome: Outcome) -> list[Event]:
    events: list[Event] = []
    if isinstance(outcome, BackupTaken):
        events.append((NORMAL, BACKUP_SUCCEEDED, describe(outcome)))
        pruned, error = outcome.pruned, outcome.prune_error
    elif isinstance(outcome, Pruned):
        pruned, error = outcome.pruned, outcome.error
    else:
        return [(WARNING, outcome.reason, outcome.message)]
    if pruned:
        events.append((NORMAL, "BackupsPruned", f"deleted {', '.join(pruned)}"))
    if error:
        events.append((WARNING, "RetentionFailed", error))
    return events


def remember(memory: Memory, backup: EtcdBackup, outcome: Outcome, now: datetime) -> Memory:
    """Memory after recording `outcome` (the cache may show the write only later)."""
    if isinstance(outcome, BackupFailed):
        return replace(
            memory,
            failures=memory.failures + 1,
            last_failure=now,
            failed_inputs=memory.task_inputs,
        )
    error = outcome.prune_error if isinstance(outcome, BackupTaken) else outcome.error
    memory = replace(
        memory, retention_failed=error is not None, prune_failed_at=now if error else None
    )
    if isinstance(outcome, Pruned):
        return memory
    return replace(
        memory,
        last_success=outcome.taken,
        succeeded_generation=backup.metadata.generation,
        failures=0,
        last_failure=None,
        failed_inputs=None,
    )
