"""WorkQueue guarantees: dedup, one worker per item, delays, retries, shutdown, metrics."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from controller.runtime import metrics
from controller.runtime.clock import FakeClock, settle_loop
from controller.runtime.ratelimit import ItemExponentialFailureRateLimiter
from controller.runtime.workqueue import WorkQueue

WAIT = 10.0  # generous real-time bound for things that must happen right away


def new_queue(clock: FakeClock | None = None, **kwargs: object) -> WorkQueue[str]:
    return WorkQueue("test", clock=clock or FakeClock(), metrics=False, **kwargs)  # type: ignore[arg-type]


async def get_now(queue: WorkQueue[str]) -> str | None:
    return await asyncio.wait_for(queue.get(), WAIT)


async def nothing_ready(queue: WorkQueue[str]) -> bool:
    """True if get() stays waiting while the loop has nothing else to do."""
    getter = asyncio.ensure_future(queue.get())
    await settle_loop()
    waiting = not getter.done()
    getter.cancel()
    await asyncio.gather(getter, return_exceptions=True)
    return waiting


async def test_items_added_many_times_before_processing_are_processed_once() -> None:
    queue = new_queue()
    for item in ["a", "b", "a", "a", "b", "c"]:
        queue.add(item)
    assert len(queue) == 3
    got = [await get_now(queue) for _ in range(3)]
    assert got == ["a", "b", "c"]  # first-add order
    assert await nothing_ready(queue)


async def test_an_item_is_never_handed_to_two_workers_at_once() -> None:
    queue = new_queue()
    in_hand: set[str] = set()
    overlaps: list[str] = []
    processed: list[str] = []

    async def worker() -> None:
        while (item := await queue.get()) is not None:
            if item in in_hand:
                overlaps.append(item)
            in_hand.add(item)
            await asyncio.sleep(0)  # let the others run and re-add meanwhile
            queue.add(item)  # an event for the item arrives while it is processing
            await asyncio.sleep(0)
            in_hand.discard(item)
            processed.append(item)
            queue.done(item)
            if len(processed) >= 40:
                queue.shut_down()

    for item in ["x", "y"]:
        queue.add(item)
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(4))), WAIT)
    assert overlaps == []
    assert {"x", "y"} <= set(processed)


async def test_readded_while_processing_is_processed_again_after_done() -> None:
    queue = new_queue()
    queue.add("a")
    item = await get_now(queue)
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0  # not handed out a second time while processing
    assert await nothing_ready(queue)
    queue.done(item)  # type: ignore[arg-type]
    assert await get_now(queue) == "a"
    queue.done("a")
    assert await nothing_ready(queue)


async def test_done_without_readd_does_not_requeue() -> None:
    queue = new_queue()
    queue.add("a")
    queue.done(await get_now(queue))  # type: ignore[arg-type]
    assert len(queue) == 0
    assert await nothing_ready(queue)


async def test_waiting_getters_are_woken_by_add() -> None:
    queue = new_queue()
    getters = [asyncio.ensure_future(queue.get()) for _ in range(3)]
    await settle_loop()
    queue.add("a")
    queue.add("b")
    await settle_loop()
    assert sorted(str(g.result()) for g in getters if g.done()) == ["a", "b"]
    queue.shut_down()
    results = await asyncio.wait_for(asyncio.gather(*getters), WAIT)
    assert results.count(None) == 1  # the third getter is released by the shutdown


async def test_a_cancelled_getter_does_not_swallow_an_item() -> None:
    queue = new_queue()
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await settle_loop()
    queue.add("a")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, WAIT) == "a"


async def test_add_after_waits_for_the_clock_and_keeps_deadline_order() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("late", 2.0)
    queue.add_after("early", 1.0)
    await settle_loop()
    assert len(queue) == 0
    await clock.run_for(0.999)
    assert len(queue) == 0
    await clock.run_for(0.001)
    assert await get_now(queue) == "early"
    assert len(queue) == 0
    await clock.run_for(1.0)
    assert await get_now(queue) == "late"


async def test_add_after_dedups_with_the_nearest_deadline_winning() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("a", 5.0)
    queue.add_after("a", 1.0)  # nearer: replaces the 5s timer
    queue.add_after("a", 3.0)  # farther than the pending 1s: ignored
    await clock.run_for(1.0)
    assert await get_now(queue) == "a"
    queue.done("a")
    await clock.run_for(10.0)
    assert len(queue) == 0  # the superseded 3s and 5s deadlines add nothing
    assert await nothing_ready(queue)


async def test_add_after_of_a_queued_item_adds_nothing_new() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add("a")
    queue.add_after("a", 1.0)
    await clock.run_for(1.0)
    assert len(queue) == 1
    assert await get_now(queue) == "a"


async def test_add_after_with_no_delay_adds_at_once() -> None:
    queue = new_queue()
    queue.add_after("a", 0)
    assert len(queue) == 1


async def test_add_rate_limited_backs_off_exponentially_and_forget_resets() -> None:
    clock = FakeClock()
    queue = new_queue(clock, rate_limiter=ItemExponentialFailureRateLimiter(1.0, 100.0))
    for expected_delay in [1.0, 2.0, 4.0]:
        queue.add_rate_limited("a")
        await clock.run_for(expected_delay - 0.01)
        assert len(queue) == 0
        await clock.run_for(0.01)
        assert await get_now(queue) == "a"
        queue.done("a")
    assert queue.num_requeues("a") == 3
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    queue.add_rate_limited("a")
    await clock.run_for(1.0)
    assert await get_now(queue) == "a"


async def test_shut_down_returns_none_to_waiting_and_later_getters() -> None:
    queue = new_queue()
    waiting = asyncio.ensure_future(queue.get())
    await settle_loop()
    queue.add("a")
    queue.add("b")
    queue.shut_down()
    # woken for "a", but the shutdown came first: no new work is handed out, queued is dropped
    assert await asyncio.wait_for(waiting, WAIT) is None
    assert await get_now(queue) is None
    queue.add("c")
    queue.add_after("d", 1.0)
    assert await get_now(queue) is None
    assert queue.shutting_down
    assert len(queue) == 0


async def test_shut_down_stops_pending_delayed_adds() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("a", 1.0)
    await settle_loop()
    queue.shut_down()
    await clock.run_for(5.0)
    assert len(queue) == 0


async def test_drain_waits_for_items_in_flight() -> None:
    queue = new_queue()
    queue.add("a")
    queue.add("b")
    a = await get_now(queue)
    drain = asyncio.ensure_future(queue.shut_down_with_drain())
    await settle_loop()
    assert not drain.done()
    assert await get_now(queue) is None  # nothing new is handed out while draining
    queue.add("a")  # refused: the queue is shutting down
    queue.done(a)  # type: ignore[arg-type]
    await asyncio.wait_for(drain, WAIT)
    assert len(queue) == 0


async def test_drain_with_nothing_in_flight_returns_at_once() -> None:
    queue = new_queue()
    queue.add("a")
    await asyncio.wait_for(queue.shut_down_with_drain(), WAIT)


def sample(registry: CollectorRegistry, name: str, queue_name: str) -> float:
    value = registry.get_sample_value(name, {"name": queue_name})
    return 0.0 if value is None else value


async def test_metrics_follow_the_queue() -> None:
    clock = FakeClock()
    name = "metrics-test"
    queue: WorkQueue[str] = WorkQueue(name, clock=clock, metrics=True)
    reg = metrics.REGISTRY
    adds_before = sample(reg, "workqueue_adds_total", name)
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert sample(reg, "workqueue_depth", name) == 2
    assert sample(reg, "workqueue_adds_total", name) - adds_before == 2
    clock.advance(3.0)
    item = await get_now(queue)
    assert sample(reg, "workqueue_depth", name) == 1
    assert sample(reg, "workqueue_queue_duration_seconds_sum", name) == 3.0
    clock.advance(2.0)
    assert sample(reg, "workqueue_unfinished_work_seconds", name) == 2.0
    assert sample(reg, "workqueue_longest_running_processor_seconds", name) == 2.0
    queue.done(item)  # type: ignore[arg-type]
    assert sample(reg, "workqueue_work_duration_seconds_sum", name) == 2.0
    assert sample(reg, "workqueue_unfinished_work_seconds", name) == 0.0
    queue.add_rate_limited("a")
    assert sample(reg, "workqueue_retries_total", name) == 1
    queue.shut_down()
    assert sample(reg, "workqueue_depth", name) == 0


async def test_a_queue_without_metrics_leaves_the_registry_alone() -> None:
    before = metrics.REGISTRY.get_sample_value("workqueue_adds_total", {"name": "quiet"})
    queue: WorkQueue[str] = WorkQueue("quiet", clock=FakeClock(), metrics=False)
    queue.add("a")
    assert metrics.REGISTRY.get_sample_value("workqueue_adds_total", {"name": "quiet"}) == before
