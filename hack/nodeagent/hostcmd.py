"""Host-side commands on a running container: `exec` a command in it, `kill` its process.

There is no `kubectl exec` (see README); these stand in for it on this machine (root needed):

    python -m nodeagent exec --root . <namespace>/<pod> [-c container] -- CMD...
    python -m nodeagent kill --root . <namespace>/<pod> [-c container] [--signal KILL]

The container is found through the agent's process records; `exec` joins its mount, network
and UTS namespaces (nsenter) with the container's environment and working directory, so the
image's programs are on PATH. `kill` signals the container's main process (what chaos tests
need: the agent then restarts it according to the pod's restartPolicy).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from nodeagent.procs import ProcRecord, ProcTable, start_time


class NotFound(Exception):
    pass


def find_container(procs: Path, pod: str, container: str | None) -> ProcRecord:
    """The live record of `pod` (namespace/name) and `container` (default: the only one)."""
    live = [
        r for r in ProcTable(procs).records() if r.pod == pod and start_time(r.pid) == r.start_time
    ]
    if container:
        live = [r for r in live if r.container == container]
    if not live:
        raise NotFound(f"no running container {container or ''} of pod {pod} on this agent")
    names = sorted({r.container for r in live})
    if len(names) > 1:
        raise NotFound(f"pod {pod} runs several containers ({', '.join(names)}): choose with -c")
    return live[0]


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(
        item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item
    )


def exec_in(rec: ProcRecord, argv: list[str]) -> None:
    """Replaces this process with `argv` inside the container (does not return)."""
    cwd = os.readlink(f"/proc/{rec.pid}/cwd")
    cmd = ["nsenter", "-t", str(rec.pid), "-m", "-n", "-u", f"--wd={cwd}", "--", *argv]
    os.execvpe("nsenter", cmd, _environ(rec.pid))


def kill(rec: ProcRecord, signame: str) -> None:
    sig = signal.Signals[signame if signame.startswith("SIG") else f"SIG{signame}"]
    os.kill(rec.pid, sig)


def main(
    command: str, procs: Path, pod: str, container: str | None, rest: list[str], signame: str
) -> int:
    try:
        rec = find_container(procs, pod, container)
    except NotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    if command == "kill":
        kill(rec, signame)
        print(f"sent {signame} to {pod} container {rec.container} (pid {rec.pid})")
        return 0
    if not rest:
        print("exec needs a command after --", file=sys.stderr)
        return 2
    exec_in(rec, rest)
    return 127
