"""Selecting log records for kubectl logs: tail, since, timestamps, limit."""

from pathlib import Path

from nodeagent.logread import (
    LogOptions,
    complete_lines,
    format_timestamp,
    limited,
    parse_records,
    parse_timestamp,
    render,
    select_tail,
    termination_message,
)

LOG = (
    b"2026-01-01T00:00:01.000000000Z stdout F one\n"
    b"2026-01-01T00:00:02.000000000Z stderr P tw\n"
    b"2026-01-01T00:00:02.500000000Z stderr F o\n"
    b"2026-01-01T00:00:03.000000000Z stdout F three\n"
    b"2026-01-01T00:00:04.000000000Z stdout F \n"
)


def test_render_all_joins_partial_records() -> None:
    assert render(parse_records(LOG), LogOptions()) == b"one\ntwo\nthree\n\n"


def test_tail_counts_lines_not_records() -> None:
    recs = parse_records(LOG)
    assert render(select_tail(recs, 1), LogOptions()) == b"\n"
    assert render(select_tail(recs, 3), LogOptions()) == b"two\nthree\n\n"
    assert render(select_tail(recs, 99), LogOptions()) == b"one\ntwo\nthree\n\n"
    assert select_tail(recs, 0) == []


def test_timestamps_prefix_each_line() -> None:
    out = render(select_tail(parse_records(LOG), 3), LogOptions(timestamps=True))
    assert out.split(b"\n")[0] == b"2026-01-01T00:00:02.000000000Z two"


def test_since_drops_older_records() -> None:
    since = parse_timestamp("2026-01-01T00:00:03Z")
    assert render(parse_records(LOG), LogOptions(since=since)) == b"three\n\n"


def test_limit_bytes() -> None:
    assert b"".join(limited([b"abc", b"defg"], 5)) == b"abcde"
    assert b"".join(limited([b"abc"], None)) == b"abc"


def test_timestamps_round_trip() -> None:
    ts = format_timestamp(1_767_225_601_123_456_789)
    assert ts == "2026-01-01T00:00:01.123456789Z"
    assert abs(parse_timestamp(ts) - 1_767_225_601.123456789) < 1e-6
    assert parse_timestamp("2026-01-01T00:00:01Z") == 1_767_225_601.0


def test_incomplete_trailing_line_is_held_back() -> None:
    assert complete_lines(b"a\nb") == (b"a\n", b"b")
    assert complete_lines(b"b") == (b"", b"b")


def test_malformed_lines_are_skipped() -> None:
    assert parse_records(b"garbage\n\n") == []


def test_a_failed_containers_termination_message_is_the_end_of_its_log(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    lines = [f"line {i}" for i in range(200)] + ["fetch: S3Unreachable: no answer"]
    log.write_bytes(
        b"".join(b"2026-01-01T00:00:01.000000000Z stderr F %s\n" % x.encode() for x in lines)
    )
    message = termination_message(log)
    assert message.endswith("line 199\nfetch: S3Unreachable: no answer")
    assert len(message.splitlines()) == 80  # the kubelet's limits: 80 lines or 2048 bytes
    long = b"2026-01-01T00:00:01.000000000Z stderr F " + b"x" * 5000 + b"\n"
    log.write_bytes(long)
    assert termination_message(log) == "x" * 2047  # 2048 bytes with the newline, which goes
    assert termination_message(tmp_path / "missing.log") == ""
