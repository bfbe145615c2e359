"""Supervised long tasks: one per key, outcomes kept as status, cancelled with leadership."""

from __future__ import annotations

import asyncio
import logging

import pytest

from controller.runtime.clock import FakeClock, settle_loop
from controller.runtime.metrics import REGISTRY
from controller.runtime.tasks import Ended, Running, Tasks, TaskState, TaskStatus, task_view


class Job:
    """Work that runs until released, counting its starts and how it ended."""

    def __init__(self, result: object = None, error: Exception | None = None):
        self.result, self.error = result, error
        self.starts = 0
        self.release = asyncio.Event()
        self.cancelled = False

    async def __call__(self) -> object:
        self.starts += 1
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error
        return self.result


def open_tasks(clock: FakeClock | None = None) -> Tasks:
    tasks = Tasks(clock or FakeClock())
    tasks.open()
    return tasks


async def finish(job: Job) -> None:
    job.release.set()
    await settle_loop()


def gauge(owner: str, state: TaskState) -> float:
    labels = {"owner": owner, "state": state.value}
    return REGISTRY.get_sample_value("controller_runtime_tasks", labels) or 0.0


async def test_ensure_starts_a_key_once_and_returns_its_status() -> None:
    tasks, job, other = open_tasks(), Job(), Job()
    first = tasks.ensure("backup/a", job, owner="t")
    again = tasks.ensure("backup/a", other, owner="t")
    await settle_loop()
    assert first.state is TaskState.RUNNING and again == first
    assert (job.starts, other.starts) == (1, 0)
    assert tasks.running == ["backup/a"]
    await finish(job)


async def test_success_keeps_the_result_and_the_times() -> None:
    clock = FakeClock()
    tasks, job = open_tasks(clock), Job(result={"snapshot": "s3://b/1"})
    tasks.ensure("backup/a", job, owner="t")
    await settle_loop()
    clock.advance(42)
    await finish(job)
    status = tasks.get("backup/a")
    assert status is not None and status.state is TaskState.SUCCEEDED
    assert status.result == {"snapshot": "s3://b/1"} and status.error is None
    assert status.ended is not None and status.ended - status.started == 42
    assert tasks.running == []


async def test_failure_is_kept_as_a_reason_not_raised() -> None:
    tasks, job = open_tasks(), Job(error=ConnectionError("s3 unreachable"))
    tasks.ensure("backup/a", job, owner="t")
    await finish(job)  # nothing raised here, nor in the loop
    status = tasks.ensure("backup/a", Job(), owner="t")  # the record answers; no new start
    assert status.state is TaskState.FAILED
    assert status.error == "ConnectionError: s3 unreachable"
    assert job.starts == 1


async def test_forget_lets_ensure_start_again_but_not_while_running() -> None:
    tasks, job = open_tasks(), Job()
    tasks.ensure("k", job, owner="t")
    await settle_loop()
    tasks.forget("k")  # running: forgetting would allow a second copy
    assert tasks.ensure("k", Job(), owner="t").running and job.starts == 1
    await finish(job)
    tasks.forget("k")
    assert tasks.get("k") is None
    retry = Job()
    assert tasks.ensure("k", retry, owner="t").running
    await settle_loop()
    assert retry.starts == 1
    await finish(retry)


async def test_cancel_all_cancels_awaits_and_closes_until_open() -> None:
    tasks, jobs = open_tasks(), [Job(), Job()]
    for i, job in enumerate(jobs):
        tasks.ensure(f"k{i}", job, owner="t")
    await settle_loop()
    await tasks.cancel_all()
    assert all(job.cancelled for job in jobs)  # their cleanup ran before cancel_all returned
    assert tasks.running == [] and tasks.get("k0") is None
    with pytest.raises(RuntimeError):
        tasks.ensure("k0", Job(), owner="t")
    tasks.open()  # leading again
    again = Job()
    tasks.ensure("k0", again, owner="t")
    await settle_loop()
    assert again.starts == 1
    await finish(again)


async def test_on_end_gets_the_outcome_but_not_cancellations() -> None:
    tasks = open_tasks()
    ended: list[TaskStatus] = []
    ok, bad, cancelled = Job(result=1), Job(error=ValueError("no")), Job()
    for key, job in (("ok", ok), ("bad", bad), ("cancelled", cancelled)):
        tasks.ensure(key, job, owner="t", on_end=ended.append)
    await settle_loop()
    tasks.cancel("cancelled")
    await finish(ok)
    await finish(bad)
    assert [(s.key, s.state) for s in ended] == [
        ("ok", TaskState.SUCCEEDED),
        ("bad", TaskState.FAILED),
    ]
    assert tasks.get("cancelled").state is TaskState.CANCELLED  # type: ignore[union-attr]


async def test_a_task_cancelled_before_it_first_ran_still_ends() -> None:
    # A reconciler may ensure and cancel in one pass: the task never got to run.
    tasks, job = open_tasks(), Job()
    tasks.ensure("k", job, owner="t-early-cancel")
    tasks.cancel("k")
    await settle_loop()
    assert tasks.get("k").state is TaskState.CANCELLED  # type: ignore[union-attr]
    assert tasks.running == [] and job.starts == 0
    tasks.forget("k")
    assert tasks.ensure("k", Job(), owner="t-early-cancel").running
    await tasks.cancel_all()  # also before it ran: nothing stays counted as running
    assert gauge("t-early-cancel", TaskState.RUNNING) == 0


async def test_a_broken_on_end_does_not_lose_the_outcome(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="controller.runtime.tasks")
    tasks, job = open_tasks(), Job(result="done")

    def broken(status: TaskStatus) -> None:
        raise RuntimeError("callback bug")

    tasks.ensure("k", job, owner="t", on_end=broken)
    await finish(job)
    status = tasks.get("k")
    assert status is not None and status.state is TaskState.SUCCEEDED and status.result == "done"


async def test_the_gauge_counts_records_by_state() -> None:
    owner = "t-gauge"
    tasks, a, b = open_tasks(), Job(), Job(error=ValueError("x"))
    tasks.ensure("a", a, owner=owner)
    tasks.ensure("b", b, owner=owner)
    await settle_loop()
    assert gauge(owner, TaskState.RUNNING) == 2
    await finish(a)
    await finish(b)
    assert gauge(owner, TaskState.RUNNING) == 0
    assert (gauge(owner, TaskState.SUCCEEDED), gauge(owner, TaskState.FAILED)) == (1, 1)
    tasks.forget("a")
    assert gauge(owner, TaskState.SUCCEEDED) == 0  # a forgotten record is no longer shown
    await tasks.cancel_all()
    assert gauge(owner, TaskState.FAILED) == 0


def test_what_a_planner_sees_of_a_task() -> None:
    def status(state: TaskState, result: object = None, error: str | None = None) -> TaskStatus:
        return TaskStatus("k", "o", state, started=0.0, result=result, error=error)

    def crashed(error: str) -> str:
        return f"crashed: {error}"

    assert task_view(None, crashed) is None
    assert task_view(status(TaskState.RUNNING), crashed) == Running()
    assert task_view(status(TaskState.SUCCEEDED, "taken"), crashed) == Ended("taken")
    failed = status(TaskState.FAILED, error="ValueError: boom")
    assert task_view(failed, crashed) == Ended("crashed: ValueError: boom")
    assert task_view(status(TaskState.FAILED), crashed) == Ended("crashed: the task failed")
    assert task_view(status(TaskState.CANCELLED), crashed) == Ended(None)  # nothing to record
