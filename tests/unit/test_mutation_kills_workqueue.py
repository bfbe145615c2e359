"""Work queue and rate limiter details that surviving mutants showed no test pinned down."""

from __future__ import annotations

import asyncio

import pytest

from controller.runtime import metrics
from controller.runtime.clock import FakeClock, settle_loop
from controller.runtime.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)
from controller.runtime.workqueue import WorkQueue

WAIT = 10.0


def adds(name: str) -> float:
    return metrics.REGISTRY.get_sample_value("workqueue_adds_total", {"name": name}) or 0.0


async def test_a_queue_has_its_name_and_metrics_unless_told_otherwise() -> None:
    before = adds("mutation-default")
    queue: WorkQueue[str] = WorkQueue("mutation-default", clock=FakeClock())
    assert queue.name == "mutation-default"
    assert queue.shutting_down is False
    queue.add("a")
    assert adds("mutation-default") - before == 1
    queue.shut_down()
    assert queue.shutting_down is True


async def test_the_default_rate_limiter_runs_on_the_queue_clock() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("mutation-bucket", clock=clock, metrics=False)
    for i in range(100):  # the bucket's burst: 5 ms each (the per-item back-off)
        queue.add_rate_limited(f"burst-{i}")
    queue.add_rate_limited("over")  # the 101st waits for a token: 0.1 s at 10/s
    await clock.run_for(0.05)
    assert len(queue) == 100
    await clock.run_for(0.06)
    assert len(queue) == 101
    await clock.run_for(20.0)  # the bucket refills on the queue's clock, not the real one
    queue.add_rate_limited("later")
    await clock.run_for(0.005)
    assert len(queue) == 102
    queue.shut_down()


async def test_add_after_without_delay_adds_that_item() -> None:
    queue: WorkQueue[str] = WorkQueue("mutation-now", clock=FakeClock(), metrics=False)
    queue.add_after("a", 0)
    queue.add_after("b", -1)
    assert await asyncio.wait_for(queue.get(), WAIT) == "a"
    assert await asyncio.wait_for(queue.get(), WAIT) == "b"


async def test_a_pending_timer_sleeps_until_its_deadline_instead_of_polling() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("mutation-timer", clock=clock, metrics=False)
    queue.add_after("a", 10.0)
    await settle_loop()
    assert clock.pending_sleepers == 1 and clock.next_deadline() == clock.now() + 10.0
    names = {t.get_name() for t in asyncio.all_tasks()}
    assert "workqueue-mutation-timer-timers" in names
    await clock.run_for(10.0)
    assert len(queue) == 1
    queue.shut_down()
    await settle_loop()


async def test_a_getter_cancelled_while_waiting_raises_cancelled() -> None:
    queue: WorkQueue[str] = WorkQueue("mutation-cancel", clock=FakeClock(), metrics=False)
    getter = asyncio.ensure_future(queue.get())
    await settle_loop()
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    queue.add("a")  # still handed out to the next getter
    assert await asyncio.wait_for(queue.get(), WAIT) == "a"


# --- rate limiters --------------------------------------------------------------------------------
def test_forgetting_an_item_that_never_failed_is_fine() -> None:
    limiter = ItemExponentialFailureRateLimiter()
    limiter.forget("never-failed")
    assert limiter.num_requeues("never-failed") == 0


def test_bucket_defaults_are_client_gos() -> None:
    bucket = BucketRateLimiter()
    assert (bucket.qps, bucket.burst) == (10.0, 100)


def test_an_unlimited_bucket_never_delays() -> None:
    bucket = BucketRateLimiter(qps=float("inf"), burst=1, clock=FakeClock())
    assert [bucket.when(i) for i in range(5)] == [0.0] * 5


def test_a_bucket_that_never_refills_delays_forever() -> None:
    bucket = BucketRateLimiter(qps=0.0, burst=1, clock=FakeClock())
    assert bucket.when("a") == 0.0
    assert bucket.when("b") == float("inf")


def test_a_partly_refilled_token_is_enough() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(qps=10.0, burst=2, clock=clock)
    assert bucket.when("a") == bucket.when("b") == 0.0
    clock.advance(0.15)  # 1.5 tokens back
    assert bucket.when("c") == 0.0  # one whole token was there: no delay, never a negative one
    assert bucket.when("d") == pytest.approx(0.05)


def test_max_of_needs_a_limiter() -> None:
    with pytest.raises(ValueError, match=r"^MaxOfRateLimiter needs at least one limiter$"):
        MaxOfRateLimiter()


def test_the_default_limiter_caps_back_off_at_1000_seconds() -> None:
    limiter = default_controller_rate_limiter(FakeClock())
    delays = [limiter.when("broken") for _ in range(30)]
    assert delays[0] == 0.005 and delays[-1] == 1000.0
