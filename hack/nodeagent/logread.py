"""Reading container logs back: the selection `kubectl logs` asks for.

Log files use the CRI format (`<RFC3339Nano> <stdout|stderr> <F|P> <content>`, P marking a
line continued in the next record). These functions pick records by `sinceSeconds`/`sinceTime`
and `tailLines`, prefix timestamps on request and cap the output at `limitBytes`; they work on
bytes and never touch a file except `read_tail`, which reads a file backwards just far enough.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class LogRecord:
    timestamp: str
    stream: str
    partial: bool
    content: bytes

    @property
    def epoch(self) -> float:
        return parse_timestamp(self.timestamp)


@dataclass(frozen=True)
class LogOptions:
    tail_lines: int | None = None
    since: float | None = None  # epoch seconds
    timestamps: bool = False
    limit_bytes: int | None = None
    follow: bool = False


def format_timestamp(ns: int) -> str:
    secs, nanos = divmod(ns, 1_000_000_000)
    base = datetime.utcfromtimestamp(secs).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def parse_timestamp(ts: str) -> float:
    """RFC3339 with optional fraction (any precision) → epoch seconds."""
    text = ts.rstrip("Z")
    if text.endswith("+00:00"):
        text = text[:-6]
    whole, _, frac = text.partition(".")
    dt = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    seconds = (dt - datetime(1970, 1, 1)).total_seconds()
    return seconds + (float("0." + frac) if frac else 0.0)


def parse_record(line: bytes) -> LogRecord | None:
    """One file line (without its newline) → record; None for anything malformed."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    content = parts[3] if len(parts) == 4 else b""
    return LogRecord(
        parts[0].decode(errors="replace"),
        parts[1].decode(errors="replace"),
        parts[2] == b"P",
        content,
    )


def parse_records(data: bytes) -> list[LogRecord]:
    out = []
    for line in data.split(b"\n"):
        rec = parse_record(line) if line else None
        if rec is not None:
            out.append(rec)
    return out


def select_tail(records: list[LogRecord], tail_lines: int | None) -> list[LogRecord]:
    """The records making up the last `tail_lines` lines (a line = P* F)."""
    if tail_lines is None:
        return records
    if tail_lines <= 0:
        return []
    complete = 0
    for i in range(len(records) - 1, -1, -1):
        # A complete record before the start of the current line closes the previous line.
        if not records[i].partial and i != len(records) - 1:
            complete += 1
            if complete >= tail_lines:
                return records[i + 1 :]
    return records


def render(records: Iterable[LogRecord], opts: LogOptions, line_start: bool = True) -> bytes:
    """Records → the bytes kubectl shows; `line_start` says whether a new line begins."""
    out = bytearray()
    for rec in records:
        if opts.since is not None and rec.epoch < opts.since:
            continue
        if opts.timestamps and line_start:
            out += rec.timestamp.encode() + b" "
        out += rec.content
        if not rec.partial:
            out += b"\n"
        line_start = not rec.partial
    return bytes(out)


def read_tail(path: Path, tail_lines: int, block: int = 65536) -> tuple[bytes, int]:
    """Enough of the end of `path` to hold `tail_lines` lines; (data, file size read to)."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        pos, data = size, b""
        while pos > 0 and data.count(b"\n") <= tail_lines:
            step = min(block, pos)
            pos -= step
            f.seek(pos)
            data = f.read(step) + data
        if pos > 0:
            data = data[data.index(b"\n") + 1 :]  # drop the first, possibly cut, line
        return data, size


def complete_lines(data: bytes) -> tuple[bytes, bytes]:
    """Splits off a trailing unterminated line (still being written)."""
    cut = data.rfind(b"\n")
    return (data[: cut + 1], data[cut + 1 :]) if cut >= 0 else (b"", data)


def limited(chunks: Iterable[bytes], limit: int | None) -> Iterator[bytes]:
    """Passes chunks through until `limit` bytes in total went out."""
    sent = 0
    for chunk in chunks:
        if limit is not None:
            chunk = chunk[: max(0, limit - sent)]
        if chunk:
            sent += len(chunk)
            yield chunk
        if limit is not None and sent >= limit:
            return


# What the kubelet puts in a failed container's termination message under
# terminationMessagePolicy FallbackToLogsOnError: the end of its log, whichever is smaller.
TERMINATION_MESSAGE_LINES = 80
TERMINATION_MESSAGE_BYTES = 2048


def termination_message(path: Path) -> str:
    """The end of the log at `path` as a failed container's termination message."""
    try:
        data, _ = read_tail(path, TERMINATION_MESSAGE_LINES)
    except OSError:
        return ""
    records = select_tail(parse_records(data), TERMINATION_MESSAGE_LINES)
    text = render(records, LogOptions())[-TERMINATION_MESSAGE_BYTES:]
    return text.decode(errors="replace").rstrip("\n")
