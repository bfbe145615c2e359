"""The write-load journal checks (tests/e2e/consistency.py) on recorded journals: what counts
as an acknowledged write kept, and what as a read going back in time."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.consistency import (
    Stored,
    counts,
    lost_writes,
    parse_journal,
    prefix_of,
    reads_never_went_back,
    time_travel,
)

K = "writeload/e07056d9/k"
# Recorded while every pod of a 3-member cluster was deleted (the writes of k2 and k3 failed:
# not acknowledged, and never read back), then trimmed of the ordinary lines around them.
RECORDED = """\
{"op": "start", "prefix": "writeload/e07056d9/", "endpoint": "faulty-client.t-d0ff8394.svc:2379"}
{"op": "put", "key": "writeload/e07056d9/k1", "seq": 28, "t": 1796075183.209}
{"op": "ack", "key": "writeload/e07056d9/k1", "seq": 28, "rev": 1492, "t": 1796075183.212}
{"op": "get", "key": "writeload/e07056d9/k1", "seq": 28, "rev": 1492, "mod_rev": 1492}
{"op": "put", "key": "writeload/e07056d9/k2", "seq": 28, "t": 1796075183.22}
{"op": "fail", "key": "writeload/e07056d9/k2", "seq": 28, "error": "UNAVAILABLE connections"}
{"op": "get-fail", "key": "writeload/e07056d9/k2", "error": "UNAVAILABLE connections"}
{"op": "put", "key": "writeload/e07056d9/k3", "seq": 34, "t": 1796075189.578}
{"op": "fail", "key": "writeload/e07056d9/k3", "seq": 34, "error": "UNAVAILABLE errors resolving"}
{"op": "get-fail", "key": "writeload/e07056d9/k3", "error": "UNAVAILABLE errors resolving"}
{"op": "put", "key": "writeload/e07056d9/k4", "seq": 34, "t": 1796075189.783}
{"op": "ack", "key": "writeload/e07056d9/k4", "seq": 34, "rev": 1493, "t": 1796075189.786}
{"op": "get", "key": "writeload/e07056d9/k4", "seq": 34, "rev": 1493, "mod_rev": 1493}
{"op": "put", "key": "writeload/e07056d9/k1", "seq": 29, "t": 1796075189.794}
{"op": "ack", "key": "writeload/e07056d9/k1", "seq": 29, "rev": 1494, "t": 1796075189.803}
{"op": "get", "key": "writeload/e07056d9/k1", "seq": 29, "rev": 1494, "mod_rev": 1494}
"""


def journal(*lines: dict[str, Any]) -> str:
    start = {"op": "start", "prefix": "writeload/e07056d9/"}
    return "".join(json.dumps(line) + "\n" for line in (start, *lines))


def put(key: int, seq: int) -> dict[str, Any]:
    return {"op": "put", "key": f"{K}{key}", "seq": seq}


def ack(key: int, seq: int, rev: int) -> dict[str, Any]:
    return {"op": "ack", "key": f"{K}{key}", "seq": seq, "rev": rev}


def fail(key: int, seq: int) -> dict[str, Any]:
    return {"op": "fail", "key": f"{K}{key}", "seq": seq, "error": "TimeoutError"}


def get(key: int, seq: int | None, rev: int, mod_rev: int) -> dict[str, Any]:
    return {"op": "get", "key": f"{K}{key}", "seq": seq, "rev": rev, "mod_rev": mod_rev}


def test_the_recorded_journal_is_consistent_with_what_the_cluster_held() -> None:
    entries = parse_journal(RECORDED)
    assert prefix_of(entries) == "writeload/e07056d9/"
    assert counts(entries) == {"put": 5, "ack": 3, "get": 3, "fail": 2, "get-fail": 2}
    assert time_travel(entries) == []
    held = {f"{K}1": Stored(29, 1494), f"{K}4": Stored(34, 1493)}  # k2, k3: never acknowledged
    assert lost_writes(entries, held) == []


def test_a_half_written_last_line_is_not_read_yet() -> None:
    text = journal(put(1, 1), ack(1, 1, 5))
    entries = parse_journal(text + '{"op": "put", "key": "wr')
    assert [e.op for e in entries] == ["start", "put", "ack"]
    assert entries[2].line == 3 and entries[2].rev == 5


def test_a_key_holding_an_older_write_than_acknowledged_is_lost_naming_the_ack_line() -> None:
    entries = parse_journal(RECORDED)
    held = {f"{K}1": Stored(28, 1492), f"{K}4": Stored(34, 1493)}
    (problem,) = lost_writes(entries, held)
    assert problem.startswith(f"{K}1 holds Stored(seq=28, mod_rev=1492); acknowledged at line 15:")
    assert '"seq": 29, "rev": 1494' in problem


def test_a_key_gone_is_lost() -> None:
    entries = parse_journal(RECORDED)
    assert len(lost_writes(entries, {f"{K}4": Stored(34, 1493)})) == 1


def test_a_write_without_an_answer_may_land_after_the_acknowledged_one() -> None:
    # seq 2's request reached etcd after seq 3 was acknowledged: newer by revision
    entries = parse_journal(journal(put(0, 2), fail(0, 2), put(0, 3), ack(0, 3, 7)))
    assert lost_writes(entries, {f"{K}0": Stored(2, 9)}) == []
    # ...but not at a revision before the acknowledged write: that is the ack lost
    assert len(lost_writes(entries, {f"{K}0": Stored(2, 6)})) == 1


def test_a_value_the_client_never_sent_is_not_a_later_write() -> None:
    entries = parse_journal(journal(put(0, 1), ack(0, 1, 4)))
    assert len(lost_writes(entries, {f"{K}0": Stored(7, 9)})) == 1


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        ([put(0, 1), ack(0, 1, 8), get(1, 3, 7, 6)], "a read behind an acknowledged write"),
        ([get(1, 3, 8, 6), put(0, 1), ack(0, 1, 8)], "a write at a revision already read"),
        ([get(1, 3, 8, 6), get(2, 3, 7, 5)], "a read behind an earlier read"),
        ([put(0, 4), ack(0, 4, 8), get(0, 3, 9, 6)], "the key's older write"),
        ([put(0, 4), ack(0, 4, 8), get(0, None, 9, 0)], "the key gone after its write"),
        ([get(0, 4, 9, 8), get(0, 3, 9, 6)], "the key older than read before"),
        ([put(0, 4), ack(0, 4, 8), get(0, 5, 9, 8)], "another value at the write's revision"),
    ],
)
def test_going_back_in_time_is_found(lines: list[dict[str, Any]], why: str) -> None:
    entries = parse_journal(journal(*lines))
    problems = time_travel(entries)
    assert len(problems) == 1, why
    assert problems[0].startswith(f"line {len(lines) + 1}"), problems
    with pytest.raises(AssertionError, match="went back in time"):
        reads_never_went_back(entries)


def test_failed_writes_and_reads_that_later_find_them_are_not_time_travel() -> None:
    lines = [put(0, 1), ack(0, 1, 5), put(0, 2), fail(0, 2), get(0, 2, 6, 6), get(0, 2, 6, 6)]
    lines += [{"op": "get-fail", "key": f"{K}0", "error": "x"}, put(0, 3), ack(0, 3, 7)]
    assert time_travel(parse_journal(journal(*lines))) == []
