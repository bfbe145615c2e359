"""The EtcdBackup planner: from what is observed, and the time, the one next action. Pure.

Order: a bad spec is reported; a running task is waited for; an ended one is recorded
(status, Events) before anything else happens; then, when a backup is due, it starts
(unless a Secret it needs is missing); else a retention pass that failed is retried; else
the reconciler waits until the next due time.

When a backup is due:
- one-shot (`backupIntervalInSecond` 0): until one succeeded for the current generation;
- periodic: `interval` after the last success, or now if there was none. The last success
  is status.lastSuccessDate (durable) or what this replica recorded since (the cache may
  not show its own write yet). An operator that was down for several intervals therefore
  takes one backup when it comes back, then counts the interval from that one: missed runs
  are never made up in a burst.
- after failures: not before a back-off (5 s doubling, at most 5 min and at most the
  interval) from the last failure, which this replica remembers; after a restart the
  first attempt is immediate, and so is the first after the inputs changed (the spec or
  a Secret it names: the user's fix is tried at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from api import ConditionStatus, EtcdBackup, find_condition
from controller.etcdbackup.outcome import Outcome
from controller.runtime.tasks import Ended, Running

RETENTION = "Retention"  # condition type: False while the newest-N rule is not applied
BACKOFF_BASE = 5.0
BACKOFF_MAX = 300.0
PRUNE_RETRY = 30.0


@dataclass(frozen=True)
class Memory:
    """What this replica remembers of one backup between passes (lost on restart)."""

    last_success: datetime | None = None
    succeeded_generation: int | None = None
    failures: int = 0  # consecutive failed attempts
    last_failure: datetime | None = None
    task_inputs: str | None = None  # the inputs' version the latest task started with
    failed_inputs: str | None = None  # ... and the one the latest failure had
    retention_failed: bool | None = None  # None: not recorded here, the status tells
    prune_failed_at: datetime | None = None


TaskView = Running | Ended[Outcome]


@dataclass(frozen=True)
class Observed:
    backup: EtcdBackup
    memory: Memory = Memory()
    task: TaskView | None = None
    problem: tuple[str, str] | None = None  # (reason, message): the spec or a Secret is bad
    missing_secrets: tuple[str, ...] = ()
    inputs_version: str = ""  # changes with the spec and the Secrets it names


# --- actions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportBadSpec:
    reason: str
    message: str


@dataclass(frozen=True)
class WaitForTask:
    pass


@dataclass(frozen=True)
class Record:
    outcome: Outcome | None


@dataclass(frozen=True)
class WaitForSecrets:
    names: tuple[str, ...]


@dataclass(frozen=True)
class StartBackup:
    pass


@dataclass(frozen=True)
class StartPrune:
    pass


@dataclass(frozen=True)
class WaitUntil:
    at: datetime


@dataclass(frozen=True)
class Done:
    """A one-shot backup that succeeded: nothing more to do until the spec changes."""


Action = (
    ReportBadSpec | WaitForTask | Record | WaitForSecrets | StartBackup | StartPrune | WaitUntil
) | Done


def plan(obs: Observed, now: datetime) -> Action:
    if obs.problem is not None:
        return ReportBadSpec(*obs.problem)
    if isinstance(obs.task, Running):
        return WaitForTask()
    if isinstance(obs.task, Ended):
        return Record(obs.task.outcome)
    due = backup_due(obs, now)
    if due is None:
        return Done()
    if due <= now:
        return WaitForSecrets(obs.missing_secrets) if obs.missing_secrets else StartBackup()
    if retention_pending(obs):
        retry = obs.memory.prune_failed_at
        retry_at = retry + timedelta(seconds=PRUNE_RETRY) if retry else now
        if retry_at <= now:
            return StartPrune()
        return WaitUntil(min(due, retry_at))
    return WaitUntil(due)


def backup_due(obs: Observed, now: datetime) -> datetime | None:
    """When the next backup should start (now or earlier: at once); None: never again."""
    backup, memory = obs.backup, obs.memory
    spec, status, generation = backup.spec, backup.status, backup.metadata.generation
    if not spec.is_periodic:
        done_by_status = status.succeeded and status.observed_generation == generation
        if done_by_status or memory.succeeded_generation == generation:
            return None
        due = now
    else:
        last = last_success(obs)
        due = last + timedelta(seconds=interval(obs)) if last else now
    same_inputs = memory.failed_inputs in (None, obs.inputs_version)
    if memory.failures and memory.last_failure is not None and same_inputs:
        due = max(due, memory.last_failure + timedelta(seconds=backoff(obs)))
    return due


def last_success(obs: Observed) -> datetime | None:
    known = [d for d in (obs.backup.status.last_success_date, obs.memory.last_success) if d]
    return max(known) if known else None


def interval(obs: Observed) -> int:
    policy = obs.backup.spec.backup_policy
    return policy.backup_interval_in_second if policy else 0


def backoff(obs: Observed) -> float:
    """Seconds to wait after the latest of `failures` consecutive failures."""
    cap = min(BACKOFF_MAX, interval(obs)) if obs.backup.spec.is_periodic else BACKOFF_MAX
    exponent = min(obs.memory.failures - 1, 16)
    return float(min(BACKOFF_BASE * 2**exponent, cap))


def retention_pending(obs: Observed) -> bool:
    """A periodic backup with maxBackups whose last retention pass failed."""
    policy = obs.backup.spec.backup_policy
    if not obs.backup.spec.is_periodic or not policy or policy.max_backups <= 0:
        return False
    if obs.memory.retention_failed is not None:
        return obs.memory.retention_failed
    condition = find_condition(obs.backup.status.conditions, RETENTION)
    return condition is not None and condition.status == ConditionStatus.FALSE
