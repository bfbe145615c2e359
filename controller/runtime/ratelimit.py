"""client-go's workqueue rate limiters: how long a failed item waits before its next try.

A controller combines a per-item exponential back-off (one broken object backs off alone)
with an overall token bucket (a storm of failures cannot flood the API server).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from controller.runtime.clock import Clock, RealClock


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float:
        """Seconds to wait before `item` may be retried; counts as one more requeue."""
        ...

    def forget(self, item: Hashable) -> None:
        """The item succeeded: stop tracking it, so its next failure starts from scratch."""
        ...

    def num_requeues(self, item: Hashable) -> int: ...


class ItemExponentialFailureRateLimiter:
    """base * 2^failures per item, capped."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0):
        self.base = base
        self.cap = cap
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exponent = self._failures.get(item, 0)
        self._failures[item] = exponent + 1
        if exponent > 1000:  # 2**exponent would overflow a float long after passing the cap
            return self.cap
        return min(self.base * 2.0**exponent, self.cap)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """A token bucket shared by all items, with golang.org/x/time/rate reservation semantics.

    Each `when` reserves a token now; when the bucket is empty the reservation is in the
    future, so the returned delay grows with every caller (the 101st of a burst of 100 at
    10/s waits 0.1s, the 102nd 0.2s).
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock | None = None):
        self.qps = qps
        self.burst = burst
        self._clock = clock or RealClock()
        self._tokens = float(burst)  # a new bucket is full
        self._last = self._clock.now()

    def when(self, item: Hashable) -> float:
        if self.qps == float("inf"):
            return 0.0
        now = self._clock.now()
        elapsed = max(0.0, now - self._last)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps) - 1.0
        self._last = now
        if self._tokens >= 0:
            return 0.0
        if self.qps <= 0:
            return float("inf")
        return -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay of several limiters (every limiter records the attempt)."""

    def __init__(self, *limiters: RateLimiter):
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max([limiter.when(item) for limiter in self.limiters])

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock | None = None) -> RateLimiter:
    """controller-runtime's default: per-item 5ms→1000s back-off, overall 10/s burst 100."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )
