"""The EtcdRestore reconciler: observe, plan one action, apply it, write status, requeue.

Verification runs as a supervised task (`Controller.ensure_task`), so a pass never waits for
it: it starts the task and returns; the task's end enqueues the restore, and the next pass
records the outcome (status with the resourceVersion precondition, then Events) and forgets
the task. A write that meets a newer object keeps the outcome for the next pass. Every
status write carries the resourceVersion of the object it was computed from; a pass that
writes twice (an outcome, then what follows from it) continues from the API's answer.

The destructive part is not here: once Verified=True, the EtcdCluster reconciler replaces
the members (its own durable operation) and names this restore's uid in the cluster's
status.restoredFrom, which the cluster watch brings back here to finish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, assert_never

from pydantic import ValidationError

from api import EtcdRestore, RestoreStatus
from controller.clients.kube import KubeClient
from controller.common.resources import ETCD_RESTORES
from controller.common.scope import is_managed
from controller.etcdrestore.observe import cluster_view, inputs
from controller.etcdrestore.outcome import BackupVerified, Outcome, VerifyFailed
from controller.etcdrestore.planner import (
    Action,
    AwaitCluster,
    Done,
    Fail,
    Finish,
    Memory,
    NotVerified,
    Observed,
    Record,
    StartVerify,
    TaskView,
    WaitForTask,
    WaitUntil,
    plan,
)
from controller.etcdrestore.reasons import S3_ERROR
from controller.etcdrestore.status import (
    complete_status,
    condition_events,
    failed_status,
    not_verified_status,
    recorded_status,
    verifying_status,
    waiting_status,
)
from controller.etcdrestore.task import VerifyJob, verify_backup
from controller.runtime.cache import Cache
from controller.runtime.events import EventRecorder, ObjectRef
from controller.runtime.reconcile import Result, TerminalError
from controller.runtime.status import StaleObject, patch_status
from controller.runtime.tasks import EnsureTask, Tasks, task_view

log = logging.getLogger(__name__)


class EtcdRestoreReconciler:
    name = "etcdrestore"

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
        obj = self.cache.get(ETCD_RESTORES, key)
        if obj is None or not is_managed(obj, self.cluster_wide) or _deleting(obj):
            self._let_go(key)
            return Result()
        try:
            restore = EtcdRestore.model_validate(obj)
        except ValidationError as exc:
            raise TerminalError(f"invalid EtcdRestore {key}: {exc}") from exc

        uid = restore.metadata.uid
        memory = self._memory.get(key)
        if memory is not None and memory.uid != uid:
            self._let_go(key)  # deleted and created again: another restore, remembered anew
            memory = None
        if memory is None:
            memory = self._memory[key] = Memory(uid=uid)

        found = inputs(restore, self.cache)
        observed = Observed(
            restore,
            memory=memory,
            task=self._task_view(key),
            problem=found.problem,
            waiting=found.waiting,
            cluster=cluster_view(restore, self.cache),
            inputs_version=found.version,
        )
        now = self.clock()
        action = plan(observed, now)
        try:
            if isinstance(action, Record):
                restore = await self._record(key, restore, action.outcome, now)
                observed = replace(observed, restore=restore, memory=self._memory[key], task=None)
                action = plan(observed, now)
            return await self._apply(key, restore, action, found.job, found.version, now)
        except StaleObject as exc:
            log.info("status not written, observing again: %s", exc)
            return Result(requeue=True)

    async def _apply(
        self,
        key: str,
        restore: EtcdRestore,
        action: Action,
        job: VerifyJob | None,
        version: str,
        now: datetime,
    ) -> Result:
        match action:
            case Done() | WaitForTask():
                return Result()
            case WaitUntil(at=at):
                return Result(requeue_after=max(1.0, (at - now).total_seconds()))
            case Finish(cluster=cluster):
                self.tasks.cancel(self._task(key))  # a verification of a newer spec: moot
                self.tasks.forget(self._task(key))
                await self._write(restore, complete_status(restore, cluster, now))
                self._memory[key] = replace(self._memory[key], completed=True)
                log.info("restore complete", extra={"cluster": cluster.name})
                return Result()
            case Fail(reason=reason, message=message):
                await self._write(restore, failed_status(restore, reason, message, now))
                return Result()  # a spec change enqueues it
            case AwaitCluster(reason=reason, message=message):
                await self._write(restore, waiting_status(restore, reason, message, now))
                return Result()  # the cluster's changes enqueue it
            case NotVerified(reason=reason, message=message):
                await self._write(restore, not_verified_status(restore, reason, message, now))
                return Result()  # the cluster's or the Secret's creation enqueues it
            case StartVerify(announce=announce):
                assert job is not None and self.ensure_task is not None
                if announce:
                    await self._write(restore, verifying_status(restore, now))
                self._memory[key] = replace(
                    self._memory[key], task_inputs=version, task_generation=job.generation
                )
                self.ensure_task(self._task(key), key, lambda: verify_backup(job))
                log.info("verification started", extra={"object": job.source})
                return Result()  # the task's end enqueues the key
            case Record():
                raise AssertionError("an outcome is recorded once per pass")
            case _:
                assert_never(action)

    async def _record(
        self, key: str, restore: EtcdRestore, outcome: Outcome | None, now: datetime
    ) -> EtcdRestore:
        """Writes the outcome into the status (precondition), posts its Events, forgets the
        task; a cancelled task, or one that verified an older spec, is only forgotten."""
        generation = restore.metadata.generation
        if outcome is not None and outcome.generation != generation:
            log.info("dropping the verification of generation %s", outcome.generation)
        elif outcome is not None:
            restore = await self._write(restore, recorded_status(restore, outcome, now))
            self._memory[key] = remember(self._memory[key], outcome, now)
            level = logging.WARNING if isinstance(outcome, VerifyFailed) else logging.INFO
            log.log(level, "recorded %s", type(outcome).__name__, extra=outcome_fields(outcome))
        self.tasks.forget(self._task(key))
        return restore

    async def _write(self, restore: EtcdRestore, status: RestoreStatus) -> EtcdRestore:
        """Writes `status` if it differs (precondition: the object as read), then posts an
        Event for each condition whose reason changed; the object as the API answered."""
        before, after = wire_status(restore.status), wire_status(status)
        if before == after:
            return restore
        written = await patch_status(
            self.kube,
            ETCD_RESTORES,
            restore.namespace,
            restore.name,
            restore.metadata.resource_version,
            after,
            cache=self.cache,
        )
        for type_, reason, message in condition_events(restore.status, status):
            await self.events.record(ref(restore), type_, reason, message)
        return EtcdRestore.model_validate(written)

    def _task_view(self, key: str) -> TaskView | None:
        def crashed(error: str) -> Outcome:  # a bug, not an S3 failure: retried
            return VerifyFailed(S3_ERROR, error, self._memory[key].task_generation)

        return task_view(self.tasks.get(self._task(key)), crashed)

    def _let_go(self, key: str) -> None:
        """The restore is gone or not ours: stop its verification, forget it."""
        memory = self._memory.pop(key, None)
        if memory is not None:
            self.tasks.cancel(task_key(key, memory.uid))
            self.tasks.forget(task_key(key, memory.uid))

    def _task(self, key: str) -> str:
        """The task key of the restore this replica remembers under `key`."""
        return task_key(key, self._memory[key].uid)


def remember(memory: Memory, outcome: Outcome, now: datetime) -> Memory:
    """Memory after recording `outcome` (the cache may show the write only later)."""
    if isinstance(outcome, BackupVerified):
        return replace(
            memory,
            verified_generation=outcome.generation,
            failures=0,
            last_failure=None,
            failed_inputs=None,
        )
    if outcome.terminal:
        return replace(memory, failed_generation=outcome.generation)
    return replace(
        memory,
        failures=memory.failures + 1,
        last_failure=now,
        failed_inputs=memory.task_inputs,
    )


def outcome_fields(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, VerifyFailed):
        return {"reason": outcome.reason, "detail": outcome.message}
    return {
        "object": f"{outcome.bucket}/{outcome.key}",
        "bytes": outcome.size,
        "seconds": round(outcome.seconds, 2),
    }


def task_key(key: str, uid: str | None) -> str:
    """Per uid: a restore deleted and created again under its name never sees the task (nor
    the outcome) of the one before."""
    return f"etcdrestore/{key}/{uid}"


def _deleting(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def ref(restore: EtcdRestore) -> ObjectRef:
    return ObjectRef(
        api_version=restore.api_version,
        kind=restore.kind,
        name=restore.name,
        namespace=restore.namespace,
        uid=restore.metadata.uid,
    )


def wire_status(status: RestoreStatus) -> dict[str, Any]:
    """The status as a merge patch: None fields are sent as null (removed)."""
    body = status.model_dump(mode="json", by_alias=True)
    body["conditions"] = [
        c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in status.conditions
    ]
    return body
