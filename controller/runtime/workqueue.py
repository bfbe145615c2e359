"""client-go's work queue for asyncio: deduplicating, one worker per item, delays, retries.

The guarantees a reconciler relies on:
- an item added many times before a worker takes it is processed once (`dirty` set);
- an item is never handed to two workers at once: while it is processing, a new add only
  marks it dirty, and `done` puts it back in the queue (`processing` set);
- `add_after` keeps one pending timer per item, the nearest deadline winning;
- after shutdown no new work is handed out: `get` returns None and queued items are dropped
  (reconciles are level-triggered, so the next leader re-lists and loses nothing);
  `shut_down_with_drain` also waits until items being processed are done.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from controller.runtime.clock import Clock, RealClock
from controller.runtime.metrics import NoWorkQueueMetrics, WorkQueueMetrics
from controller.runtime.ratelimit import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)


class WorkQueue(Generic[T]):
    def __init__(
        self,
        name: str,
        *,
        rate_limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        metrics: bool = True,
    ):
        self.name = name
        self._clock = clock or RealClock()
        self._rate_limiter = rate_limiter or default_controller_rate_limiter(self._clock)
        self._metrics = WorkQueueMetrics(name, self._clock) if metrics else NoWorkQueueMetrics()
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()  # wanted: queued, or re-added while processing
        self._processing: set[T] = set()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._idle = asyncio.Event()  # no item processing; what a drain waits for
        self._idle.set()
        # add_after: item -> ready time, a heap of (ready time, seq, item) with stale entries
        # skipped, and one task that sleeps until the earliest one.
        self._waiting: dict[T, float] = {}
        self._timers: list[tuple[float, int, T]] = []
        self._seq = itertools.count()
        self._timer_wake = asyncio.Event()
        self._timer_task: asyncio.Task[None] | None = None

    # --- adding -----------------------------------------------------------------------------
    def add(self, item: T) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._metrics.added(item)
        self._dirty.add(item)
        if item in self._processing:
            return  # re-queued by done()
        self._queue.append(item)
        self._wake_one_getter()

    def add_after(self, item: T, delay: float) -> None:
        """Adds `item` after `delay` seconds; an earlier pending deadline for it is kept."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        ready_at = self._clock.now() + delay
        pending = self._waiting.get(item)
        if pending is not None and pending <= ready_at:
            return
        self._waiting[item] = ready_at
        heapq.heappush(self._timers, (ready_at, next(self._seq), item))
        self._timer_wake.set()
        if self._timer_task is None:
            self._timer_task = asyncio.get_running_loop().create_task(
                self._run_timers(), name=f"workqueue-{self.name}-timers"
            )

    def add_rate_limited(self, item: T) -> None:
        if self._shutting_down:
            return
        self._metrics.retried()
        self.add_after(item, self._rate_limiter.when(item))

    def forget(self, item: T) -> None:
        self._rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self._rate_limiter.num_requeues(item)

    # --- processing -------------------------------------------------------------------------
    async def get(self) -> T | None:
        """The next item, waiting for one; None once the queue is shut down."""
        while not self._shutting_down:
            if self._queue:
                item = self._queue.popleft()
                self._dirty.discard(item)
                self._processing.add(item)
                self._idle.clear()
                self._metrics.got(item)
                return item
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one_getter()  # we were woken for an item: pass it on
                else:
                    self._getters.remove(waiter)
                raise
        return None

    def done(self, item: T) -> None:
        """Marks `item` processed; if it was added meanwhile it is queued again."""
        if item not in self._processing:
            return
        self._processing.discard(item)
        self._metrics.done(item)
        if item in self._dirty and not self._shutting_down:
            self._queue.append(item)
            self._wake_one_getter()
        if not self._processing:
            self._idle.set()

    def __len__(self) -> int:
        return len(self._queue)

    # --- shutdown ---------------------------------------------------------------------------
    def shut_down(self) -> None:
        """Stops accepting items; every get() (waiting or future) returns None."""
        if self._shutting_down:
            return
        self._shutting_down = True
        for item in self._dirty:  # the queued items, and those re-added while processing
            self._metrics.dropped(item)
        self._queue.clear()
        self._dirty.clear()
        self._waiting.clear()
        self._timers.clear()
        if self._timer_task is not None:
            self._timer_task.cancel()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def shut_down_with_drain(self) -> None:
        """shut_down, then waits until every item handed out has been marked done."""
        self.shut_down()
        await self._idle.wait()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    # --- internals --------------------------------------------------------------------------
    def _wake_one_getter(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _run_timers(self) -> None:
        while not self._shutting_down:
            now = self._clock.now()
            while self._timers and self._timers[0][0] <= now:
                ready_at, _, item = heapq.heappop(self._timers)
                if self._waiting.get(item) == ready_at:  # else superseded by a nearer deadline
                    del self._waiting[item]
                    self.add(item)
            self._timer_wake.clear()
            if not self._timers:
                await self._timer_wake.wait()
                continue
            sleeper = asyncio.ensure_future(self._clock.sleep(self._timers[0][0] - now))
            woken = asyncio.ensure_future(self._timer_wake.wait())
            try:
                await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                woken.cancel()
