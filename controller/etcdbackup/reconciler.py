"""The EtcdBackup reconciler: observe, plan one action, apply it, write status, requeue.

A backup runs as a supervised task (`Controller.ensure_task`), so a pass never waits for
one: it starts the task and returns; the task's end enqueues the backup, and the next pass
records the outcome (status with the resourceVersion precondition, then Events) and forgets
the task. A write that meets a newer object keeps the outcome for the next pass. Each pass
then asks to be called at the next due time (periodic backups, retries after back-off).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, assert_never

from pydantic import ValidationError

from api import BackupStatus, EtcdBackup
from controller.clients.kube import KubeClient
from controller.common.resources import ETCD_BACKUPS
from controller.common.scope import is_managed
from controller.etcdbackup.observe import inputs
from controller.etcdbackup.outcome import BackupFailed, BackupTaken, Outcome
from controller.etcdbackup.planner import (
    Action,
    Done,
    Memory,
    Observed,
    Record,
    ReportBadSpec,
    StartBackup,
    StartPrune,
    TaskView,
    WaitForSecrets,
    WaitForTask,
    WaitUntil,
    plan,
)
from controller.etcdbackup.status import (
    SECRET_NOT_FOUND,
    SUCCEEDED,
    missing_secrets_message,
    outcome_events,
    recorded_status,
    remember,
    reported_status,
)
from controller.etcdbackup.task import BackupJob, take_backup, take_retention
from controller.runtime.cache import Cache
from controller.runtime.events import WARNING, EventRecorder, ObjectRef
from controller.runtime.reconcile import Result, TerminalError
from controller.runtime.status import StaleObject, patch_status
from controller.runtime.tasks import EnsureTask, Tasks, task_view

log = logging.getLogger(__name__)


class EtcdBackupReconciler:
    name = "etcdbackup"

    def __init__(
        self,
        cache: Cache,
        kube: KubeClient,
        tasks: Tasks,
        events: EventRecorder,
        cluster_wide: bool,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.cache = cache
        self.kube = kube
        self.tasks = tasks
        self.events = events
        self.cluster_wide = cluster_wide
        self.clock = clock
        self.ensure_task: EnsureTask | None = None  # set by setup() once the controller exists
        self._memory: dict[str, Memory] = {}

    async def reconcile(self, key: str) -> Result:
        obj = self.cache.get(ETCD_BACKUPS, key)
        if obj is None or not is_managed(obj, self.cluster_wide) or _deleting(obj):
            self._let_go(key)
            return Result()
        try:
            backup = EtcdBackup.model_validate(obj)
        except ValidationError as exc:
            raise TerminalError(f"invalid EtcdBackup {key}: {exc}") from exc

        found = inputs(backup, self.cache)
        memory = self._memory.get(key, Memory())
        observed = Observed(
            backup,
            memory=memory,
            task=self._task_view(task_key(key)),
            problem=found.problem,
            missing_secrets=found.missing_secrets,
            inputs_version=found.version,
        )
        now = self.clock()
        action = plan(observed, now)
        if isinstance(action, Record):
            try:
                await self._record(key, backup, action.outcome, memory, now)
            except StaleObject as exc:
                log.info("outcome not recorded yet, observing again: %s", exc)
                return Result(requeue=True)
            memory = self._memory.get(key, Memory())
            action = plan(replace(observed, memory=memory, task=None), now)
        return await self._apply(key, backup, action, found.job, found.version, now)

    async def _apply(
        self,
        key: str,
        backup: EtcdBackup,
        action: Action,
        job: BackupJob | None,
        version: str,
        now: datetime,
    ) -> Result:
        match action:
            case StartBackup() | StartPrune():
                assert job is not None and self.ensure_task is not None
                run = take_backup if isinstance(action, StartBackup) else take_retention
                memory = self._memory.get(key, Memory())
                self._memory[key] = replace(memory, task_inputs=version)
                self.ensure_task(task_key(key), key, lambda: run(job))
                log.info("started %s", "backup" if isinstance(action, StartBackup) else "retention")
                return Result()  # the task's end enqueues the key
            case WaitForTask() | Done():
                return Result()
            case WaitUntil(at=at):
                return Result(requeue_after=max(1.0, (at - now).total_seconds()))
            case ReportBadSpec(reason=reason, message=message):
                await self._report(backup, reported_status(backup, reason, message, now))
                return Result()  # a spec or Secret change enqueues it
            case WaitForSecrets(names=names):
                message = missing_secrets_message(names)
                status = reported_status(backup, SECRET_NOT_FOUND, message, now)
                await self._report(backup, status)
                return Result()  # the Secret's creation enqueues it
            case Record():
                raise AssertionError("an outcome is recorded once per pass")
            case _:
                assert_never(action)

    async def _record(
        self, key: str, backup: EtcdBackup, outcome: Outcome | None, memory: Memory, now: datetime
    ) -> None:
        """Writes the outcome into the status (precondition), posts its Events, forgets the
        task; a cancelled task (outcome None) is only forgotten."""
        if outcome is not None:
            await self._write(backup, recorded_status(backup, outcome, now))
            level = logging.WARNING if isinstance(outcome, BackupFailed) else logging.INFO
            log.log(level, "recorded %s", type(outcome).__name__, extra=outcome_fields(outcome))
            self._memory[key] = remember(memory, backup, outcome, now)
            for type_, reason, message in outcome_events(outcome):
                await self.events.record(ref(backup), type_, reason, message)
        self.tasks.forget(task_key(key))

    async def _report(self, backup: EtcdBackup, status: BackupStatus) -> None:
        """Writes a status that says why no backup runs; an Event when the cause changes."""
        before = next((c for c in backup.status.conditions if c.type == SUCCEEDED), None)
        after = next(c for c in status.conditions if c.type == SUCCEEDED)
        try:
            await self._write(backup, status)
        except StaleObject as exc:
            log.info("status not written, observing again: %s", exc)
            return
        if before is None or (before.reason, before.message) != (after.reason, after.message):
            await self.events.record(ref(backup), WARNING, after.reason or "", after.message or "")

    async def _write(self, backup: EtcdBackup, status: BackupStatus) -> None:
        before, after = wire_status(backup.status), wire_status(status)
        if before == after:
            return
        await patch_status(
            self.kube,
            ETCD_BACKUPS,
            backup.namespace,
            backup.name,
            backup.metadata.resource_version,
            after,
            cache=self.cache,
        )

    def _task_view(self, task: str) -> TaskView | None:
        def crashed(error: str) -> Outcome:  # a bug, not an S3 or etcd failure
            return BackupFailed("BackupError", error)

        return task_view(self.tasks.get(task), crashed)

    def _let_go(self, key: str) -> None:
        """The backup is gone or not ours: stop its task (its upload aborts), forget it."""
        self._memory.pop(key, None)
        self.tasks.cancel(task_key(key))
        self.tasks.forget(task_key(key))


def outcome_fields(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, BackupFailed):
        return {"reason": outcome.reason, "detail": outcome.message}
    fields: dict[str, Any] = {"pruned": len(outcome.pruned)}
    if isinstance(outcome, BackupTaken):
        fields.update(object=outcome.name, bytes=outcome.size, seconds=round(outcome.seconds, 2))
    return fields


def task_key(key: str) -> str:
    return f"etcdbackup/{key}"


def _deleting(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def ref(backup: EtcdBackup) -> ObjectRef:
    return ObjectRef(
        api_version=backup.api_version,
        kind=backup.kind,
        name=backup.name,
        namespace=backup.namespace,
        uid=backup.metadata.uid,
    )


def wire_status(status: BackupStatus) -> dict[str, Any]:
    """The status as a merge patch: None fields are sent as null (removed)."""
    body = status.model_dump(mode="json", by_alias=True)
    body["conditions"] = [
        c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in status.conditions
    ]
    return body
