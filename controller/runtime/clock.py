"""Time sources: the real one, and a fake one tests move by hand.

Everything time-dependent in the controller (queues, rate limiters, leader election) takes a
Clock, so unit tests control time instead of sleeping. `now()` is monotonic seconds for
intervals; `wall()` is UTC wall time, used only where the API wants timestamps.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> float: ...

    def wall(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    """time.monotonic and asyncio.sleep."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told to; sleepers wake when it passes their deadline."""

    def __init__(self, start: float = 1000.0, wall_start: datetime | None = None):
        self._now = start
        self._start = start
        self._wall_start = wall_start or datetime(2026, 1, 1, tzinfo=UTC)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return self._wall_start + timedelta(seconds=self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)  # still a suspension point, like asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    def advance(self, seconds: float) -> None:
        """Moves time forward and wakes every sleeper whose deadline has passed."""
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    @property
    def pending_sleepers(self) -> int:
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    def next_deadline(self) -> float | None:
        live = [deadline for deadline, _, fut in self._sleepers if not fut.done()]
        return min(live) if live else None

    async def run_for(self, seconds: float, *, settle: int = 50) -> None:
        """Advances `seconds` deadline by deadline, letting the loop run after each wake-up.

        So a task that sleeps repeatedly sees every intermediate step, as it would in real
        time; one big `advance` would wake it once.
        """
        target = self._now + seconds
        await settle_loop(settle)
        while (deadline := self.next_deadline()) is not None and deadline <= target:
            self.advance(max(0.0, deadline - self._now))
            await settle_loop(settle)
        self.advance(max(0.0, target - self._now))
        await settle_loop(settle)


async def settle_loop(iterations: int = 50) -> None:
    """Yields to the event loop repeatedly so woken tasks run until they block again."""
    for _ in range(iterations):
        await asyncio.sleep(0)


async def with_timeout(clock: Clock, seconds: float, awaitable: Awaitable[T]) -> T:
    """Awaits `awaitable`, cancelling it and raising TimeoutError after `seconds` of `clock`.

    asyncio.timeout measures the loop's real time; this measures the injected clock, so a
    FakeClock can expire it.
    """
    work = asyncio.ensure_future(awaitable)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        if not work.done():
            work.cancel()
        await asyncio.gather(work, timer, return_exceptions=True)
    if work.cancelled():
        raise TimeoutError(f"timed out after {seconds}s")
    return work.result()
