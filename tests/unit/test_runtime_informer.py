"""The informer's reconnect logic, driven by scripted watch streams on a FakeClock.

A stand-in for KubeClient answers the list and plays one scripted stream per watch call,
so what is tested is the reflector loop's own logic: which endings count as failures, how
long it backs off, what each watch asks the server for.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from controller.clients.kube import CONFIGMAPS, ApiError
from controller.runtime.clock import FakeClock
from controller.runtime.informer import Informer, WatchTimings

# A step of a scripted stream: an event to yield, an exception to raise, or an Event to
# wait for (the stream stays open, silent, until the test sets it).
Step = dict[str, Any] | Exception | asyncio.Event

LIST_RV = "10"


class ScriptedKube:
    def __init__(self, *streams: list[Step]):
        self.streams = deque(streams)
        self.watch_calls: list[dict[str, Any]] = []
        self.lists = 0

    async def list(self, res: Any, namespace: str | None = None, **_: Any) -> dict[str, Any]:
        self.lists += 1
        return {"items": [], "metadata": {"resourceVersion": LIST_RV}}

    async def watch(self, res: Any, namespace: str | None = None, **params: Any) -> AsyncIterator:
        self.watch_calls.append(params)
        script = self.streams.popleft() if self.streams else [asyncio.Event()]  # then: silence
        for step in script:
            if isinstance(step, asyncio.Event):
                await step.wait()
            elif isinstance(step, Exception):
                raise step
            else:
                yield step


def bookmark(rv: str) -> dict[str, Any]:
    return {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": rv}}}


def server_error() -> ApiError:
    return ApiError(500, {"code": 500, "reason": "InternalError", "message": "etcd timeout"})


async def until(condition: Callable[[], bool], steps: int = 10_000) -> None:
    """Lets the loop run until `condition` holds (no time passes on the FakeClock)."""
    for _ in range(steps):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


class Running:
    """An informer on a FakeClock, started; stop() in the test's finally."""

    def __init__(self, kube: ScriptedKube, timings: WatchTimings | None = None, seed: int = 1):
        self.kube, self.clock = kube, FakeClock()
        self.informer = Informer(
            kube,  # type: ignore[arg-type]
            CONFIGMAPS,
            "ns",
            timings=timings,
            rng=random.Random(seed),
            clock=self.clock,
        )
        self.informer.start()

    def backing_off_for(self) -> float | None:
        """The back-off delay the informer sleeps now, if it does."""
        deadline = self.clock.next_deadline()
        return None if deadline is None else deadline - self.clock.now()

    async def watches(self, n: int) -> None:
        await until(lambda: len(self.kube.watch_calls) == n)

    async def stop(self) -> None:
        await self.informer.stop()


async def test_a_watch_closed_at_once_without_events_is_a_failure_that_backs_off() -> None:
    run = Running(ScriptedKube([], []))
    try:
        await run.watches(1)
        await until(lambda: run.backing_off_for() is not None)
        first = run.backing_off_for()
        assert first is not None and 0.8 < first <= 1.6  # initial 0.8 s plus jitter
        assert run.informer.stats.errors == 1
        await run.clock.run_for(first - 0.01)
        assert len(run.kube.watch_calls) == 1  # no reconnect before the back-off ends
        await run.clock.run_for(0.01)
        await run.watches(2)
        await until(lambda: run.backing_off_for() is not None)
        second = run.backing_off_for()
        assert second is not None and 1.6 < second <= 3.2 and run.informer.stats.errors == 2
        # A failed watch resumes from the list's resourceVersion: no relist.
        assert run.kube.lists == 1
        assert [c["resource_version"] for c in run.kube.watch_calls] == [LIST_RV, LIST_RV]
    finally:
        await run.stop()


async def test_a_silent_watch_that_lived_long_enough_ends_normally() -> None:
    close = asyncio.Event()
    run = Running(ScriptedKube([close]))
    try:
        await run.watches(1)
        run.clock.advance(WatchTimings().min_watch_life)
        close.set()  # the server's timeout: no events, but not "at once"
        await run.watches(2)  # rewatched without backing off
        assert run.informer.stats.errors == 0 and run.backing_off_for() is None
    finally:
        await run.stop()


async def test_errors_other_than_410_back_off_exponentially_with_jitter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="controller.runtime.informer")
    error_event = {"type": "ERROR", "object": {"code": 500, "reason": "InternalError"}}
    streams: list[list[Step]] = [[server_error()], [error_event]] * 3
    timings = WatchTimings(backoff_initial=0.8, backoff_max=5.0)
    run = Running(ScriptedKube(*streams), timings)
    delays: list[float] = []
    try:
        for n in range(1, len(streams) + 1):
            await run.watches(n)
            await until(lambda: run.backing_off_for() is not None)
            delay = run.backing_off_for()
            assert delay is not None
            delays.append(delay)
            await run.clock.run_for(delay)
        bases = [min(0.8 * 2**i, 5.0) for i in range(len(streams))]  # 0.8 1.6 3.2 5 5 5
        for delay, base in zip(delays, bases, strict=True):
            assert base <= delay <= min(2 * base, 5.0)
        assert all(d > b for d, b in zip(delays[:3], bases, strict=False))  # jittered
        assert run.informer.stats.errors == len(streams)
        assert run.kube.lists == 1  # none of them asked for a relist
    finally:
        await run.stop()


async def test_events_reset_the_back_off() -> None:
    streams: list[list[Step]] = [
        [server_error()],
        [server_error()],
        [bookmark("11"), server_error()],
    ]
    run = Running(ScriptedKube(*streams))
    try:
        for n in (1, 2):
            await run.watches(n)
            await until(lambda: run.backing_off_for() is not None)
            await run.clock.run_for(run.backing_off_for() or 0)
        await run.watches(3)
        await until(lambda: run.backing_off_for() is not None)
        delay = run.backing_off_for()
        assert delay is not None and delay <= 1.6  # back at the initial 0.8 s (+ jitter)
        assert run.kube.watch_calls[-1]["resource_version"] == LIST_RV
        await run.clock.run_for(delay)
        await run.watches(4)
        assert run.kube.watch_calls[-1]["resource_version"] == "11"  # from the bookmark
    finally:
        await run.stop()


async def test_a_410_relists_then_watches_from_the_new_list() -> None:
    run = Running(ScriptedKube([ApiError(410, {"code": 410, "reason": "Expired"})]))
    try:
        await run.watches(1)
        await until(lambda: run.backing_off_for() is not None)
        await run.clock.run_for(run.backing_off_for() or 0)
        await run.watches(2)
        assert run.kube.lists == 2 and run.informer.stats.relists_expired == 1
        assert run.informer.stats.errors == 0
    finally:
        await run.stop()


async def test_each_watch_asks_for_a_random_server_timeout_within_bounds() -> None:
    timings = WatchTimings(timeout_min=300, timeout_max=600)
    streams: list[list[Step]] = [[bookmark(str(100 + i))] for i in range(40)]
    run = Running(ScriptedKube(*streams), timings)
    try:
        await run.watches(41)  # each ended normally: rewatched at once, no back-off
        timeouts = [c["timeout_seconds"] for c in run.kube.watch_calls]
        assert all(300 <= t <= 600 for t in timeouts)
        assert len(set(timeouts)) > 10  # spread, so reconnects do not come in waves
        assert run.kube.watch_calls[-1]["resource_version"] == "139"
        assert run.informer.stats.errors == 0 and run.clock.now() == FakeClock().now()
    finally:
        await run.stop()
