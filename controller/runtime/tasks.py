"""Supervised long work: what outlives a reconcile (a snapshot streamed to S3, a
defragmentation, a restore) runs here, never on a queue worker.

Guarantees:
- `ensure(key, start)` starts at most one task per key; while it runs, or after it ended
  and until `forget(key)`, further calls return its status and start nothing. A reconciler
  calls it on every pass and reads the answer (level-based, like everything else).
- A task's end (done or failed) calls its `on_end` (the manager enqueues the reconcile
  key that started it), so the reconciler sees the outcome at once. A cancellation does
  not: it comes from `cancel` (the caller knows) or from losing leadership (nobody acts).
- Tasks run only on the leader: `cancel_all` runs when leadership is lost or the process
  stops, and awaits every task. Work must therefore record its progress durably (in the
  object's status) as it goes; the next leader resumes from that record.
- A failure is kept as a reason string, never raised into the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Generic, TypeVar

from controller.runtime.clock import Clock, RealClock
from controller.runtime.metrics import TASKS

log = logging.getLogger(__name__)
R = TypeVar("R")

Work = Callable[[], Coroutine[Any, Any, Any]]


class TaskState(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


@dataclass(frozen=True)
class TaskStatus:
    key: str
    owner: str
    state: TaskState
    started: float
    ended: float | None = None
    result: Any = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.state is TaskState.RUNNING


@dataclass(frozen=True)
class Running:
    """A planner's view of a task that still runs."""


@dataclass(frozen=True)
class Ended(Generic[R]):
    """A planner's view of a task that ended: its outcome, None when it was cancelled
    (nothing to record)."""

    outcome: R | None


def task_view(status: TaskStatus | None, crashed: Callable[[str], R]) -> Running | Ended[R] | None:
    """What a planner sees of a task: none, Running, or Ended with the work's result. Work
    reports its failures as results; one that raised (a bug) ends with `crashed(error)`."""
    if status is None:
        return None
    if status.state is TaskState.RUNNING:
        return Running()
    if status.state is TaskState.SUCCEEDED:
        return Ended(status.result)
    if status.state is TaskState.FAILED:
        return Ended(crashed(status.error or "the task failed"))
    return Ended(None)


# What a reconciler calls each pass: Controller.ensure_task(task, key, work).
EnsureTask = Callable[[str, str, Work], TaskStatus]


class Tasks:
    def __init__(self, clock: Clock | None = None):
        self._clock = clock or RealClock()
        self._status: dict[str, TaskStatus] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._accepting = False

    def open(self) -> None:
        """Allows new tasks (the manager calls it when it starts leading)."""
        self._accepting = True

    def ensure(
        self,
        key: str,
        work: Work,
        *,
        owner: str,
        on_end: Callable[[TaskStatus], None] | None = None,
    ) -> TaskStatus:
        """The task `key`'s status, starting `work()` first if there is no record of it."""
        if (status := self._status.get(key)) is not None:
            return status
        if not self._accepting:
            raise RuntimeError("tasks are closed: this replica is not leading")
        status = TaskStatus(key=key, owner=owner, state=TaskState.RUNNING, started=self._now())
        self._status[key] = status
        self._count(owner, TaskState.RUNNING, +1)
        task = asyncio.create_task(_call(work), name=f"task {key}")
        # A done callback, not code after the work: it also runs for a task cancelled
        # before its first step, whose coroutine never starts.
        task.add_done_callback(lambda done: self._ended(key, status, done, on_end))
        self._tasks[key] = task
        log.info("task started", extra={"task": key, "owner": owner})
        return status

    def get(self, key: str) -> TaskStatus | None:
        return self._status.get(key)

    def forget(self, key: str) -> None:
        """Drops an ended task's record so that the next `ensure` starts it again."""
        status = self._status.get(key)
        if status is not None and not status.running:
            self._drop(key)

    def cancel(self, key: str) -> None:
        task = self._tasks.get(key)
        if task is not None:
            task.cancel()

    async def cancel_all(self) -> None:
        """Stops accepting, cancels every running task and waits for them; forgets all."""
        self._accepting = False
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for key in list(self._status):
            self._drop(key)

    @property
    def running(self) -> list[str]:
        return sorted(k for k, s in self._status.items() if s.running)

    def _ended(
        self,
        key: str,
        status: TaskStatus,
        task: asyncio.Task[Any],
        on_end: Callable[[TaskStatus], None] | None,
    ) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        now = self._now()
        if task.cancelled():
            end = replace(status, state=TaskState.CANCELLED, ended=now)
            log.info("task cancelled", extra={"task": key})
        elif (exc := task.exception()) is not None:
            end = replace(status, state=TaskState.FAILED, ended=now, error=_describe(exc))
            log.warning("task failed: %s", end.error, extra={"task": key})
        else:
            end = replace(status, state=TaskState.SUCCEEDED, ended=now, result=task.result())
            log.info("task succeeded", extra={"task": key})
        if self._status.get(key) is status:  # else its record was dropped: not counted
            self._status[key] = end
            self._count(status.owner, TaskState.RUNNING, -1)
            self._count(status.owner, end.state, +1)
        if on_end is not None and end.state is not TaskState.CANCELLED:
            try:
                on_end(end)
            except Exception:  # a broken callback must not hide the task's outcome
                log.exception("task %s: on_end failed", key)

    def _drop(self, key: str) -> None:
        """Forgets a record; the gauge shows records, so it no longer counts either."""
        status = self._status.pop(key)
        self._count(status.owner, status.state, -1)

    def _now(self) -> float:
        return self._clock.now()

    @staticmethod
    def _count(owner: str, state: TaskState, delta: int) -> None:
        TASKS.labels(owner, state.value).inc(delta)


async def _call(work: Work) -> Any:
    """Calls `work` inside its task, so that even a synchronous failure is an outcome."""
    return await work()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
