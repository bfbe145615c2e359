"""The status an EtcdRestore should show, and the Events its changes deserve. Pure.

CoreOS's fields: `succeeded` (the restore completed) and `reason` (why it failed, as text).
Ours: `observedGeneration` and the conditions Verified, Complete and Failed (reasons in
reasons.py).

The hand-off rule: the EtcdCluster reconciler replaces the cluster's members only when
Verified=True and status.observedGeneration equals metadata.generation. So a status written
for a newer generation than the one it last described first drops Verified and Failed (they
spoke of an older spec): observedGeneration never advances past a Verified=True it did not
re-establish. (Complete=False goes too, and comes back once the new spec is verified.)
"""

from __future__ import annotations

from datetime import datetime

from api import (
    ConditionStatus,
    EtcdRestore,
    RestoreConditionType,
    RestoreStatus,
    find_condition,
    remove_condition,
    set_condition,
)
from controller.etcdrestore.observe import ClusterView, source
from controller.etcdrestore.outcome import BackupVerified, VerifyFailed
from controller.etcdrestore.reasons import BACKUP_VERIFIED, RESTORED, VERIFYING, WARNINGS
from controller.etcdrestore.task import source_url
from controller.runtime.events import NORMAL, WARNING

VERIFIED = RestoreConditionType.VERIFIED.value
COMPLETE = RestoreConditionType.COMPLETE.value
FAILED = RestoreConditionType.FAILED.value
Event = tuple[str, str, str]  # (type, reason, message)


def _base(restore: EtcdRestore) -> RestoreStatus:
    status = restore.status.model_copy(deep=True)
    if status.observed_generation != restore.metadata.generation:
        for type_ in (VERIFIED, FAILED, COMPLETE):  # Complete=True never gets here (one-shot)
            remove_condition(status.conditions, type_)
        status.reason = None
    status.observed_generation = restore.metadata.generation
    return status


def verifying_status(restore: EtcdRestore, now: datetime) -> RestoreStatus:
    status = _base(restore)
    message = f"reading {source(restore)} and checking its SHA-256"
    set_condition(status.conditions, VERIFIED, ConditionStatus.UNKNOWN, VERIFYING, message, now)
    return status


def verified_status(restore: EtcdRestore, outcome: BackupVerified, now: datetime) -> RestoreStatus:
    status = _base(restore)
    set_condition(
        status.conditions, VERIFIED, ConditionStatus.TRUE, BACKUP_VERIFIED, describe(outcome), now
    )
    return status


def not_verified_status(
    restore: EtcdRestore, reason: str, message: str, now: datetime
) -> RestoreStatus:
    """A verification that failed and is retried, or a precondition waited for."""
    status = _base(restore)
    set_condition(status.conditions, VERIFIED, ConditionStatus.FALSE, reason, message, now)
    return status


def failed_status(restore: EtcdRestore, reason: str, message: str, now: datetime) -> RestoreStatus:
    """The restore cannot go on: the backup is corrupt, or the spec can never work."""
    status = _base(restore)
    status.succeeded, status.reason = False, message
    set_condition(status.conditions, VERIFIED, ConditionStatus.FALSE, reason, message, now)
    set_condition(status.conditions, FAILED, ConditionStatus.TRUE, reason, message, now)
    return status


def recorded_status(
    restore: EtcdRestore, outcome: BackupVerified | VerifyFailed, now: datetime
) -> RestoreStatus:
    if isinstance(outcome, BackupVerified):
        return verified_status(restore, outcome, now)
    if outcome.terminal:
        return failed_status(restore, outcome.reason, outcome.message, now)
    return not_verified_status(restore, outcome.reason, outcome.message, now)


def waiting_status(restore: EtcdRestore, reason: str, message: str, now: datetime) -> RestoreStatus:
    """Verified; the cluster is not restored yet (Complete=False says how far it got)."""
    status = _base(restore)
    set_condition(status.conditions, COMPLETE, ConditionStatus.FALSE, reason, message, now)
    return status


def complete_status(restore: EtcdRestore, cluster: ClusterView, now: datetime) -> RestoreStatus:
    status = restore.status.model_copy(deep=True)  # Verified stays as it was when it acted
    status.succeeded, status.reason = True, None
    remove_condition(status.conditions, FAILED)
    set_condition(
        status.conditions, COMPLETE, ConditionStatus.TRUE, RESTORED, restored(cluster), now
    )
    return status


def describe(outcome: BackupVerified) -> str:
    return (
        f"{source_url(outcome.bucket, outcome.key)}: {outcome.size} bytes, SHA-256 verified "
        f"in {outcome.seconds:.1f}s"
    )


def restored(cluster: ClusterView) -> str:
    what = cluster.restored_source or "the backup"
    when = f" (serving since {cluster.completed_at})" if cluster.completed_at else ""
    return f"EtcdCluster {cluster.name} was seeded from {what}{when}"


def condition_events(before: RestoreStatus, after: RestoreStatus) -> list[Event]:
    """An Event for each condition whose status or reason changed (one per reason)."""
    events: list[Event] = []
    for type_ in (VERIFIED, FAILED, COMPLETE):
        old = find_condition(before.conditions, type_)
        new = find_condition(after.conditions, type_)
        if new is None or not new.reason:
            continue
        if old is not None and (old.status, old.reason) == (new.status, new.reason):
            continue
        if any(reason == new.reason for _, reason, _ in events):
            continue
        level = WARNING if new.reason in WARNINGS else NORMAL
        events.append((level, new.reason, new.message or ""))
    return events
