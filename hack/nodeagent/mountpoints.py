"""Mount points on the host filesystem: which are allowed, and the few we have to create.

Containers share the host's filesystem; each mounts its volumes in a private mount namespace,
so the host never sees those mounts. A bind mount still needs an existing directory (or file)
to mount on, so a missing mountPath (say /var/etcd) is created on the host and remembered in
`<state>/mountpoints.txt`; cleanup removes it again if it is still empty. Targets whose
covering would hide what the container itself needs (/, /usr, /proc, the checkout, the agent's
state, ...) are refused.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

FORBIDDEN = frozenset(
    "/ /bin /boot /dev /etc /home /lib /lib32 /lib64 /libx32 /media /mnt /opt /proc /root /run"
    " /sbin /srv /sys /usr /usr/bin /usr/lib /usr/local /usr/sbin /var /var/lib /var/run".split()
)


class MountPointError(Exception):
    pass


def check_target(target: str, protected: Iterable[Path]) -> None:
    """Raises unless mounting over `target` leaves the container (and host) working."""
    if not os.path.isabs(target):
        raise MountPointError(f"mountPath {target!r} must be absolute")
    norm = os.path.normpath(target)
    real = os.path.realpath(norm)
    for path in (norm, real):
        if path in FORBIDDEN:
            raise MountPointError(f"refusing to mount over {path} on this node agent")
        for keep in protected:
            keep_s = str(keep)
            if keep_s == path or keep_s.startswith(path.rstrip("/") + "/"):
                raise MountPointError(f"mountPath {target} would hide {keep} (needed to run)")


def ensure(target: str, is_dir: bool, record: Path) -> None:
    """Creates `target` (and missing parents) if absent, recording each created path."""
    norm = os.path.normpath(target)
    if os.path.lexists(norm):
        return
    created = []
    parent = os.path.dirname(norm)
    missing = []
    while parent and not os.path.lexists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o755)
            created.append(d)
    if is_dir:
        with contextlib.suppress(FileExistsError):
            os.mkdir(norm, 0o755)
            created.append(norm)
    else:
        with contextlib.suppress(FileExistsError), open(norm, "x"):
            created.append(norm)
    if created:
        record.parent.mkdir(parents=True, exist_ok=True)
        with open(record, "a") as f:
            f.writelines(p + "\n" for p in created)


def remove_created(record: Path) -> list[str]:
    """Removes recorded mount points that are still empty, deepest first; returns them."""
    try:
        paths = sorted(set(record.read_text().split("\n")) - {""}, key=len, reverse=True)
    except FileNotFoundError:
        return []
    removed, kept = [], []
    for p in paths:
        try:
            if os.path.isdir(p) and not os.path.islink(p):
                os.rmdir(p)
            elif os.path.isfile(p) and os.path.getsize(p) == 0:
                os.unlink(p)
            elif os.path.lexists(p):
                kept.append(p)
                continue
            removed.append(p)
        except OSError:
            kept.append(p)
    if kept:
        record.write_text("".join(p + "\n" for p in kept))
    else:
        record.unlink(missing_ok=True)
    return removed
