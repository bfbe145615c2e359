"""How the manager turns a reconcile's outcome into queue state, metrics and log context."""

from __future__ import annotations

import asyncio
import logging

import pytest

from controller.common.resources import PODS
from controller.runtime.clock import FakeClock, settle_loop
from controller.runtime.logs import ContextFilter, context_fields
from controller.runtime.manager import Controller, Manager
from controller.runtime.metrics import REGISTRY
from controller.runtime.reconcile import Request, Result, TerminalError


class Scripted:
    """A reconciler that answers each call with the next scripted outcome."""

    def __init__(self, name: str, *outcomes: Result | Exception):
        self.name = name
        self.outcomes = list(outcomes)
        self.seen_context: list[dict[str, object]] = []

    async def reconcile(self, key: str) -> Result:
        self.seen_context.append(context_fields())
        logging.getLogger("test.reconciler").info("reconciling %s", key)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class Recording(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def controller(clock: FakeClock, reconciler: Scripted) -> Controller:
    mgr = Manager(None, namespace="ns", clock=clock)  # type: ignore[arg-type]  # no I/O here
    return mgr.add_controller(reconciler)


def total(name: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "controller_runtime_reconcile_total", {"controller": name, "result": result}
    )
    return value or 0.0


async def process(ctrl: Controller, key: str) -> None:
    ctrl.queue.add(key)
    item = await ctrl.queue.get()
    assert item == key
    try:
        await ctrl.reconcile_once(item)
    finally:
        ctrl.queue.done(item)


async def test_success_forgets_the_key() -> None:
    clock = FakeClock()
    ctrl = controller(clock, Scripted("t-success", Result()))
    await process(ctrl, "ns/a")
    assert len(ctrl.queue) == 0 and ctrl.queue.num_requeues("ns/a") == 0
    assert total("t-success", "success") == 1


async def test_error_is_retried_with_backoff() -> None:
    clock = FakeClock()
    ctrl = controller(clock, Scripted("t-error", RuntimeError("api down"), Result()))
    await process(ctrl, "ns/a")
    assert ctrl.queue.num_requeues("ns/a") == 1
    await clock.run_for(1.0)
    assert len(ctrl.queue) == 1  # back after the rate limiter's delay
    errors = REGISTRY.get_sample_value(
        "controller_runtime_reconcile_errors_total", {"controller": "t-error"}
    )
    assert errors == 1 and total("t-error", "error") == 1
    ctrl.queue.shut_down()


async def test_terminal_error_is_not_retried() -> None:
    clock = FakeClock()
    ctrl = controller(clock, Scripted("t-terminal", TerminalError("bad spec")))
    await process(ctrl, "ns/a")
    await clock.run_for(3600)
    assert len(ctrl.queue) == 0 and ctrl.queue.num_requeues("ns/a") == 0
    assert total("t-terminal", "error") == 1


async def test_requeue_after_comes_back_on_time() -> None:
    clock = FakeClock()
    ctrl = controller(clock, Scripted("t-after", Result(requeue_after=30)))
    await process(ctrl, "ns/a")
    await clock.run_for(29)
    assert len(ctrl.queue) == 0
    await clock.run_for(2)
    assert len(ctrl.queue) == 1 and ctrl.queue.num_requeues("ns/a") == 0
    assert total("t-after", "requeue_after") == 1
    ctrl.queue.shut_down()


async def test_requeue_is_rate_limited() -> None:
    clock = FakeClock()
    ctrl = controller(clock, Scripted("t-requeue", Result(requeue=True)))
    await process(ctrl, "ns/a")
    assert ctrl.queue.num_requeues("ns/a") == 1 and total("t-requeue", "requeue") == 1
    ctrl.queue.shut_down()


async def test_each_pass_logs_with_its_own_reconcile_id() -> None:
    clock = FakeClock()
    rec = Scripted("t-logs", Result(), Result())
    ctrl = controller(clock, rec)
    handler = Recording()
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("test.reconciler")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        await process(ctrl, "ns/a")
        await process(ctrl, "ns/b")
    finally:
        logger.removeHandler(handler)
    contexts = [r.ctx for r in handler.records]  # type: ignore[attr-defined]
    assert [c["key"] for c in contexts] == ["ns/a", "ns/b"]
    assert {c["controller"] for c in contexts} == {"t-logs"}
    assert contexts[0]["reconcile_id"] != contexts[1]["reconcile_id"]
    assert context_fields() == {}  # nothing leaks out of a pass


async def test_ensure_task_enqueues_the_key_when_the_task_ends() -> None:
    mgr = Manager(None, namespace="ns", clock=FakeClock())  # type: ignore[arg-type]
    ctrl = mgr.add_controller(Scripted("t-task"))
    mgr.tasks.open()  # as when leading
    succeed, fail, cancel = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def failing() -> None:
        await fail.wait()
        raise RuntimeError("upload failed")

    assert ctrl.ensure_task("backup ns/a", "ns/a", succeed.wait).running
    ctrl.ensure_task("backup ns/b", "ns/b", failing)
    ctrl.ensure_task("backup ns/c", "ns/c", cancel.wait)
    await settle_loop()
    assert len(ctrl.queue) == 0  # running: nothing to see yet
    succeed.set()
    fail.set()
    mgr.tasks.cancel("backup ns/c")  # cancelled: whoever cancelled knows
    await settle_loop()
    assert [await ctrl.queue.get() for _ in range(len(ctrl.queue))] == ["ns/a", "ns/b"]
    ctrl.queue.shut_down()


def test_cache_reads_are_copies_and_filter_by_labels() -> None:
    mgr = Manager(None, namespace="ns")  # type: ignore[arg-type]
    mgr.informer_for(PODS).apply_list(
        [
            {"metadata": {"name": "a", "namespace": "ns", "labels": {"app": "etcd"}}},
            {"metadata": {"name": "b", "namespace": "ns"}},
        ],
        "1",
    )
    got = mgr.cache.get(PODS, "ns/a")
    assert got is not None
    got["metadata"]["name"] = "changed"
    assert mgr.cache.get(PODS, "ns/a")["metadata"]["name"] == "a"  # type: ignore[index]
    assert [o["metadata"]["name"] for o in mgr.cache.list(PODS, "ns", {"app": "etcd"})] == ["a"]
    assert len(mgr.cache.list(PODS)) == 2


def test_request_parses_keys() -> None:
    assert Request.parse("ns/a") == Request("ns", "a") and Request("ns", "a").key == "ns/a"
    assert Request.parse("node").key == "node"


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="controller.runtime.manager")
