"""What a scenario must leave behind, checked on the write-load journal (tests/e2e/writeload.py)
and on the members: every acknowledged write readable, reads never back in time, one KV hash.

The journal is JSON lines in the order the (sequential) client did things, so line order is
real-time order: `put` (about to send key=seq), then `ack` (etcd answered, with the revision
of its response header) or `fail` (no answer: the write may or may not have happened); `get`
(a linearizable read: the seq it found, null when absent, the revision that wrote it and the
header revision) or `get-fail`. Only `ack` lines are acknowledged writes.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.operator import Etcdctl, eventually

START, PUT, ACK, FAIL, GET, GET_FAIL = "start", "put", "ack", "fail", "get", "get-fail"


@dataclass(frozen=True)
class Entry:
    """One journal line; `line` is its 1-based number, `text` the line as written."""

    line: int
    text: str
    op: str
    key: str = ""
    seq: int | None = None
    rev: int = 0
    mod_rev: int = 0
    prefix: str = ""
    error: str = ""


def parse_journal(text: str) -> list[Entry]:
    """The complete lines (a reader racing the writer may see half of the last one)."""
    entries = []
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        if line.strip():
            fields: dict[str, Any] = json.loads(line)
            known = {k: v for k, v in fields.items() if k in Entry.__dataclass_fields__}
            entries.append(Entry(line=number, text=line, **known))
    return entries


def read_journal(path: Path) -> list[Entry]:
    return parse_journal(path.read_text()) if path.exists() else []


def counts(journal: list[Entry]) -> dict[str, int]:
    """How many of each kind of line: acknowledged writes are `ack`."""
    return dict(Counter(e.op for e in journal if e.op != START))


def prefix_of(journal: list[Entry]) -> str:
    return next(e.prefix for e in journal if e.op == START)


@dataclass(frozen=True)
class Stored:
    """A key as etcd holds it: the seq in its value and the revision that wrote it."""

    seq: int
    mod_rev: int


def lost_writes(journal: list[Entry], stored: dict[str, Stored]) -> list[str]:
    """Keys that do not hold their last acknowledged write or a later one the client sent.

    A write without an answer may land after later ones (its request was still on its way),
    so "later" is by revision: the acknowledged write itself (its seq at its revision) or
    any write the client sent, at a higher revision."""
    last_ack: dict[str, Entry] = {}
    sent: dict[str, set[int]] = {}
    for e in journal:
        if e.op == ACK:
            last_ack[e.key] = e
        elif e.op == PUT and e.seq is not None:
            sent.setdefault(e.key, set()).add(e.seq)
    problems = []
    for key, ack in sorted(last_ack.items()):
        now = stored.get(key)
        same = now is not None and now.mod_rev == ack.rev and now.seq == ack.seq
        later = now is not None and now.mod_rev > ack.rev and now.seq in sent.get(key, set())
        if not (same or later):
            problems.append(f"{key} holds {now}; acknowledged at line {ack.line}: {ack.text}")
    return problems


def time_travel(journal: list[Entry]) -> list[str]:
    """Reads (and writes) that went back in time, with the line they contradict.

    After a line saw revision R, a read must answer at R or later and a write land after R;
    after a key was seen written at revision M (acknowledged, or read), a read of it must
    find it written at M or later; a read of a write acknowledged at M must find its seq."""
    newest: Entry | None = None  # the line with the highest revision so far
    floors: dict[str, Entry] = {}  # key → the line that saw it written last
    acked: dict[tuple[str, int], Entry] = {}  # (key, revision) → its ack
    problems = []
    for e in journal:
        if e.op not in (ACK, GET):
            continue
        written_at = _written_at(e)
        if newest is not None and (e.rev < newest.rev or (e.op == ACK and e.rev == newest.rev)):
            problems.append(f"line {e.line} at revision {e.rev} after line {newest.line}: {e.text}")
        floor = floors.get(e.key)
        if floor is not None and written_at < _written_at(floor):
            problems.append(f"line {e.line}: older {e.key} than line {floor.line}: {e.text}")
        ack = acked.get((e.key, written_at))
        if e.op == GET and ack is not None and ack.seq != e.seq:
            problems.append(f"line {e.line} reads {e.key}={e.seq}, line {ack.line} wrote it")
        if newest is None or e.rev > newest.rev:
            newest = e
        if floor is None or written_at > _written_at(floor):
            floors[e.key] = e
        if e.op == ACK:
            acked[(e.key, e.rev)] = e
    return problems


def _written_at(e: Entry) -> int:
    return e.rev if e.op == ACK else e.mod_rev


def reads_never_went_back(journal: list[Entry]) -> None:
    problems = time_travel(journal)
    assert not problems, "went back in time:\n" + "\n".join(problems)


def stored(etcdctl: Etcdctl, prefix: str) -> dict[str, Stored]:
    """Every key under `prefix`, read linearizably through the client Service."""
    answer = json.loads(etcdctl("get", "--prefix", prefix, "-w", "json"))
    decode = base64.b64decode
    return {
        decode(kv["key"]).decode(): Stored(int(decode(kv["value"])), int(kv["mod_revision"]))
        for kv in answer.get("kvs", [])
    }


def every_acknowledged_write_readable(etcdctl: Etcdctl, journal: list[Entry]) -> None:
    problems = lost_writes(journal, stored(etcdctl, prefix_of(journal)))
    assert not problems, "acknowledged writes lost:\n" + "\n".join(problems)


async def hashkv_equal(etcdctl: Etcdctl) -> tuple[int, int]:
    """Waits for every member to reach one revision (call it with no writes in flight: a
    member that never catches up fails here), then asserts they hash their KV history up to
    it alike. Returns (revision, hash)."""

    async def one_revision() -> int | None:
        proc = await asyncio.to_thread(etcdctl.run, "endpoint", "status", "--cluster", "-w", "json")
        if proc.returncode != 0:
            return None
        revisions = {s["Status"]["header"]["revision"] for s in json.loads(proc.stdout)}
        return revisions.pop() if len(revisions) == 1 else None

    rev = await eventually(one_revision, "every member at one revision", timeout=120)
    args = ("endpoint", "hashkv", "--cluster", "--rev", str(rev), "-w", "json")
    answers = json.loads(await asyncio.to_thread(etcdctl, *args))
    hashes = {a["Endpoint"]: a["HashKV"]["hash"] for a in answers}
    assert len(set(hashes.values())) == 1, f"hashkv at revision {rev} differs: {hashes}"
    return rev, hashes.popitem()[1]


@dataclass(frozen=True)
class Consistent:
    """What the checks after a scenario found: the journal's counts, the members' one hash."""

    counts: dict[str, int]
    revision: int
    hash: int

    def __str__(self) -> str:
        return f"{self.counts}; hashkv {self.hash} on every member at revision {self.revision}"


async def scenario_consistent(etcdctl: Etcdctl, journal: list[Entry]) -> Consistent:
    """The three checks after a scenario, the load stopped."""
    reads_never_went_back(journal)
    await asyncio.to_thread(every_acknowledged_write_readable, etcdctl, journal)
    revision, digest = await hashkv_equal(etcdctl)
    return Consistent(counts(journal), revision, digest)
