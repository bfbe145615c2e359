"""Writing container logs: one CRI-format file per container run, as a kubelet keeps them.

Files live at `<state>/logs/<ns>_<pod>_<uid>/<container>/<restartCount>.log`, so the current
run is the highest number and `--previous` the one before it. The agent reads the container's
stdout/stderr pipes and timestamps every line; lines over 16 KiB are split into P records.
A file over `MAX_FILE_BYTES` is rotated once to `.log.1` (only the newest part is served).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from nodeagent.logread import format_timestamp

MAX_LINE = 16 * 1024
MAX_FILE_BYTES = 20 * 1024 * 1024


class LogFile:
    """An append-only log file shared by a container's two streams."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab")  # open as long as the run
        self._size = self._file.tell()
        self.closed = False

    def write_record(self, stream: str, partial: bool, content: bytes) -> None:
        if self.closed:
            return
        line = b"%s %s %s %s\n" % (
            format_timestamp(time.time_ns()).encode(),
            stream.encode(),
            b"P" if partial else b"F",
            content,
        )
        self._file.write(line)
        self._file.flush()
        self._size += len(line)
        if self._size > MAX_FILE_BYTES:
            self._rotate()

    def _rotate(self) -> None:
        self._file.close()
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._file = open(self.path, "ab")
        self._size = 0

    def note(self, message: str) -> None:
        """A line from the agent itself (e.g. why a start failed), on stderr."""
        self.write_record("stderr", False, message.encode())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._file.close()


async def pump(reader: asyncio.StreamReader, log: LogFile, stream: str) -> None:
    """Copies one pipe into the log until EOF, splitting it into records."""
    pending = b""
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            break
        pending += chunk
        while True:
            cut = pending.find(b"\n")
            if cut < 0:
                break
            line, pending = pending[:cut], pending[cut + 1 :]
            while len(line) > MAX_LINE:
                log.write_record(stream, True, line[:MAX_LINE])
                line = line[MAX_LINE:]
            log.write_record(stream, False, line)
        while len(pending) > MAX_LINE:
            log.write_record(stream, True, pending[:MAX_LINE])
            pending = pending[MAX_LINE:]
    if pending:
        log.write_record(stream, False, pending)


def container_log_dir(pod_log_dir: Path, container: str) -> Path:
    return pod_log_dir / container


def log_path(pod_log_dir: Path, container: str, restart_count: int) -> Path:
    return container_log_dir(pod_log_dir, container) / f"{restart_count}.log"


def run_logs(pod_log_dir: Path, container: str) -> list[Path]:
    """The container's log files, oldest run first."""
    directory = container_log_dir(pod_log_dir, container)
    with contextlib.suppress(FileNotFoundError):
        files = [p for p in directory.iterdir() if p.suffix == ".log" and p.stem.isdigit()]
        return sorted(files, key=lambda p: int(p.stem))
    return []
