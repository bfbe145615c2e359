"""Multi-call programs (busybox): a directory with one symlink per applet, made at image pull.

An image whose programs are the applets of a busybox-style binary (`PROGRAM --list` names them)
gets them as symlinks to that binary in a bin dir of the agent's state dir. The links are made
when a container's image is pulled, not when the agent starts, so a binary installed later
(`apt-get install busybox` after an ErrImagePull) is used at the next pull back-off without a
restart. The applet list is read again only when the binary changed (new inode, size or mtime).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

LIST_TIMEOUT = 10.0


class AppletLinks:
    """Keeps applet dirs in step with their binaries; remembers what each dir was made from."""

    def __init__(self, list_names: Callable[[Path], list[str]] | None = None) -> None:
        self.list_names = list_names or list_applets
        self._made_from: dict[Path, tuple[object, ...]] = {}

    def ensure(self, program: Path, bin_dir: Path) -> None:
        """Links `program`'s applets into `bin_dir` unless they already are.

        FileNotFoundError: the program is not installed; OSError or CalledProcessError: it
        cannot list its applets.
        """
        st = program.stat()
        identity = (program, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if self._made_from.get(bin_dir) == identity and bin_dir.is_dir():
            return
        link_applets(program, bin_dir, self.list_names(program))
        self._made_from[bin_dir] = identity


def list_applets(program: Path) -> list[str]:
    """The applet names the program prints for `--list` (plain names only: no path tricks)."""
    # Runs on the agent's event loop: only when a binary changed, and it takes milliseconds.
    out = subprocess.run(
        [str(program), "--list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=LIST_TIMEOUT,
    ).stdout
    return [name for name in out.split() if "/" not in name and name not in (".", "..")]


def link_applets(program: Path, bin_dir: Path, names: list[str]) -> None:
    """Makes `bin_dir` hold exactly one symlink to `program` per name.

    Each link is replaced atomically, so a running container never finds its program missing.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    wanted = set(names)
    for name in wanted:
        link = bin_dir / name
        if link.is_symlink() and os.readlink(link) == str(program):
            continue
        tmp = bin_dir / f".{name}.new"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(program)
        tmp.replace(link)
    for stale in bin_dir.iterdir():
        if stale.name not in wanted:
            stale.unlink()
