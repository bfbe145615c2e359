"""The kubelet's crash back-off: 0, 10, 20, 40 ... 300 s; reset after 10 quiet minutes."""

from nodeagent.backoff import Backoff


def crash_loop(runs_for: float, crashes: int) -> list[float]:
    """Delays before each restart of a container that crashes `runs_for` s after each start."""
    b, now, delays = Backoff(), 0.0, []
    for _ in range(crashes):
        now += runs_for
        delay = b.delay("c", now, now)
        delays.append(delay)
        now += delay
        b.next("c", now)
    return delays


def test_quick_crashes_back_off_exponentially_to_five_minutes() -> None:
    delays = crash_loop(1.0, 8)
    assert delays == [0.0, 9.0, 19.0, 39.0, 79.0, 159.0, 299.0, 299.0]


def test_a_container_outliving_its_window_restarts_at_once() -> None:
    b = Backoff()
    b.next("c", 0.0)  # window 10 s
    assert b.delay("c", 15.0, 15.0) == 0.0


def test_ten_quiet_minutes_reset_the_window() -> None:
    b = Backoff()
    for t in (0.0, 1.0, 2.0, 3.0):
        b.next("c", t)
    assert b.window("c") == 80.0
    assert b.next("c", 3.0 + 601.0) == 10.0


def test_keys_are_independent() -> None:
    b = Backoff()
    b.next("a", 0.0)
    assert b.delay("b", 1.0, 1.0) == 0.0
    assert b.delay("a", 1.0, 1.0) == 9.0
