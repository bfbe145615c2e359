"""Container launcher: enters the pod's namespaces, mounts its volumes, then execs the program.

Run by the agent as `python -S launch.py <spec.json> <status-fd>` in a new session (so the
container is one process group). Standard library only and no package imports, so it starts
fast. Steps: join the pod's network namespace (setns), make a private mount namespace (and a
UTS namespace for the pod's hostname), bind-mount each volume at its mountPath (read-only
remount when asked), chdir, and execve. Until the execve succeeds, any failure is written to
<status-fd> and the launcher exits 128; the fd is close-on-exec, so the agent reading EOF with
no message knows the program is running.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
START_FAILED = 128

_libc = ctypes.CDLL(None, use_errno=True)


class LaunchError(Exception):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise LaunchError(f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, flags: int) -> None:
    src = source.encode() if source is not None else None
    result = _libc.mount(src, target.encode(), None, ctypes.c_ulong(flags), None)
    _check(result, f"mount {source or ''} on {target}")


def _mount_flags(target: str) -> int:
    """Flags of the mount holding `target` that a read-only remount must keep."""
    st = os.statvfs(target)
    flags = 0
    for bit, mnt in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC)):
        if st.f_flag & bit:
            flags |= mnt
    return flags


def enter_namespaces(spec: dict[str, Any]) -> None:
    if spec.get("netns"):
        fd = os.open(spec["netns"], os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.setns(fd, CLONE_NEWNET), f"setns {spec['netns']}")
        finally:
            os.close(fd)
    flags = CLONE_NEWNS | (CLONE_NEWUTS if spec.get("hostname") else 0)
    _check(_libc.unshare(flags), "unshare")
    _mount(None, "/", MS_REC | MS_PRIVATE)  # nothing we mount propagates back to the host
    if spec.get("hostname"):
        name = spec["hostname"].encode()
        _check(_libc.sethostname(name, len(name)), "sethostname")


def bind_mounts(mounts: list[dict[str, Any]]) -> None:
    for m in mounts:
        source, target = m["source"], m["target"]
        if not os.path.exists(source):
            raise LaunchError(f"mount source {source} does not exist")
        if not os.path.lexists(target):
            raise LaunchError(f"mount point {target} does not exist")
        _mount(source, target, MS_BIND | MS_REC)
        if m.get("readOnly"):
            flags = MS_BIND | MS_REMOUNT | MS_RDONLY | _mount_flags(target)
            _mount(None, target, flags)


def launch(spec: dict[str, Any], status_fd: int) -> None:
    enter_namespaces(spec)
    bind_mounts(spec.get("mounts") or [])
    cwd = spec.get("cwd") or "/"
    os.makedirs(cwd, exist_ok=True)  # as runc does for a missing workingDir
    os.chdir(cwd)
    # Python ignores SIGPIPE and SIG_IGN survives exec; a container starts with defaults.
    for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    os.set_inheritable(status_fd, False)
    try:
        os.execve(spec["program"], spec["argv"], spec["env"])
    except OSError as exc:
        raise LaunchError(f'exec: "{spec["argv"][0]}": {exc.strerror}') from exc


def main() -> None:
    spec_path, status_fd = sys.argv[1], int(sys.argv[2])
    try:
        with open(spec_path) as f:
            spec = json.load(f)
        launch(spec, status_fd)
    except Exception as exc:  # report anything before exec, then fail like a runtime would
        try:
            os.write(status_fd, str(exc).encode()[:4000])
        finally:
            os._exit(START_FAILED)


if __name__ == "__main__":
    main()
