"""Rate limiters: per-item exponential back-off, the shared token bucket, and their maximum."""

from __future__ import annotations

import pytest

from controller.runtime.clock import FakeClock
from controller.runtime.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)


def test_exponential_backoff_doubles_from_base_to_cap() -> None:
    limiter = ItemExponentialFailureRateLimiter(base=0.005, cap=1000.0)
    delays = [limiter.when("a") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert delays[17] == pytest.approx(0.005 * 2**17)  # 655.36s, still under the cap
    assert delays[18:] == [1000.0, 1000.0]
    assert limiter.num_requeues("a") == 20


def test_exponential_backoff_survives_very_many_failures() -> None:
    limiter = ItemExponentialFailureRateLimiter()
    for _ in range(2000):
        delay = limiter.when("a")
    assert delay == 1000.0


def test_exponential_backoff_is_per_item_and_forget_resets() -> None:
    limiter = ItemExponentialFailureRateLimiter()
    for _ in range(5):
        limiter.when("a")
    assert limiter.when("b") == pytest.approx(0.005)
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == pytest.approx(0.005)


def test_bucket_allows_a_burst_then_spaces_reservations() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(qps=10.0, burst=100, clock=clock)
    burst = [limiter.when(i) for i in range(100)]
    assert burst == [0.0] * 100
    assert limiter.when(100) == pytest.approx(0.1)
    assert limiter.when(101) == pytest.approx(0.2)  # reservations queue up behind each other


def test_bucket_refills_with_time_up_to_the_burst() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(qps=10.0, burst=100, clock=clock)
    for i in range(101):
        limiter.when(i)
    clock.advance(0.1)  # pays back the reservation of the 101st
    assert limiter.when("x") == pytest.approx(0.1)
    clock.advance(3600)
    assert [limiter.when(i) for i in range(100)] == [0.0] * 100  # full again, not more
    assert limiter.when("y") == pytest.approx(0.1)


def test_bucket_tracks_no_items() -> None:
    limiter = BucketRateLimiter(clock=FakeClock())
    limiter.when("a")
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_max_of_takes_the_longest_delay_and_forgets_everywhere() -> None:
    clock = FakeClock()
    limiter = MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(base=1.0, cap=100.0),
        BucketRateLimiter(qps=1.0, burst=1, clock=clock),
    )
    assert limiter.when("a") == 1.0  # exponential says 1s, bucket has a token
    assert limiter.when("a") == 2.0  # exponential 2s beats the bucket's 1s
    assert limiter.when("b") == 2.0  # fresh item (1s) but the bucket now owes 2s
    assert limiter.num_requeues("a") == 2
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_default_controller_rate_limiter_combines_backoff_and_bucket() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock)
    assert limiter.when("a") == pytest.approx(0.005)
    assert limiter.when("a") == pytest.approx(0.01)
    for i in range(98):
        limiter.when(i)
    # 100 tokens spent; the next fresh item waits on the bucket, not its own back-off
    assert limiter.when("fresh") == pytest.approx(0.1)
