"""Process groups the agent started, recorded on disk so nothing outlives a killed agent.

Every container runs as the leader of its own session/process group. Its record
(`<state>/procs/<pid>.json`, with the kernel's start time of the leader to recognise pid reuse)
is written right after the start and removed once the group is gone. Cleanup kills each
recorded group, and then anything still inside one of our network namespaces.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcRecord:
    pid: int
    start_time: int
    pod_uid: str = ""
    container: str = ""
    pod: str = ""  # namespace/name


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from field 3 (state) on; None if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rfind(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def alive(pid: int) -> bool:
    """Exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def process_group(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[2]) if fields else None


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def signal_group(pgid: int, sig: int) -> bool:
    """killpg, tolerating a group that is already gone; True if it was delivered."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


class ProcTable:
    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, pid: int, pod_uid: str = "", container: str = "", pod: str = "") -> ProcRecord:
        rec = ProcRecord(pid, start_time(pid) or 0, pod_uid, container, pod)
        path = self.directory / f"{pid}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(rec)))
        os.replace(tmp, path)
        return rec

    def remove(self, pid: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / f"{pid}.json").unlink()

    def records(self) -> list[ProcRecord]:
        out = []
        for path in self.directory.glob("*.json"):
            try:
                out.append(ProcRecord(**json.loads(path.read_text())))
            except (OSError, ValueError, TypeError):
                path.unlink(missing_ok=True)
        return out

    def kill_all(self) -> int:
        """SIGKILLs every recorded group still around; returns how many were."""
        killed = 0
        for rec in self.records():
            killed += kill_recorded_group(rec)
            self.remove(rec.pid)
        return killed


def kill_recorded_group(rec: ProcRecord) -> bool:
    """Kills the group `rec` started, without hitting a process that merely reused its pid."""
    leader_start = start_time(rec.pid)
    if leader_start is not None and leader_start == rec.start_time:
        return signal_group(rec.pid, signal.SIGKILL)
    if leader_start is not None:
        return False  # the pid now belongs to someone else, who may lead a group of its own
    # Leader gone: members still carrying its group id are ours (the kernel never hands out a
    # pid that is in use as a process group id).
    hit = False
    for pid in all_pids():
        if pid != rec.pid and process_group(pid) == rec.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                hit = True
    return hit


def pids_in_netns(netns_paths: list[str]) -> list[int]:
    """Processes whose network namespace is one of the given /run/netns entries."""
    inodes = set()
    for path in netns_paths:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            inodes.add((st.st_dev, st.st_ino))
    if not inodes:
        return []
    found = []
    for pid in all_pids():
        with contextlib.suppress(OSError):
            st = os.stat(f"/proc/{pid}/ns/net")
            if (st.st_dev, st.st_ino) in inodes:
                found.append(pid)
    return found
