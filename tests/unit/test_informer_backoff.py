"""The informer's back-off schedule and watch timings."""

from __future__ import annotations

import random

from controller.runtime.informer import Backoff, WatchTimings


def test_backoff_grows_with_jitter_and_caps() -> None:
    backoff = Backoff(0.8, 30.0, random.Random(7))
    delays = [backoff.next() for _ in range(10)]
    bases = [min(0.8 * 2**i, 30.0) for i in range(10)]
    for delay, base in zip(delays, bases, strict=True):
        assert base <= delay <= min(2 * base, 30.0)
    assert delays[-1] == 30.0


def test_backoff_reset_starts_over() -> None:
    backoff = Backoff(0.8, 30.0, random.Random(1))
    for _ in range(6):
        backoff.next()
    backoff.reset()
    assert backoff.next() <= 1.6


def test_default_timings_match_client_go() -> None:
    t = WatchTimings()
    assert (t.backoff_initial, t.backoff_max) == (0.8, 30.0)
    assert (t.timeout_min, t.timeout_max) == (300, 600)
    assert t.inactivity == 70.0
