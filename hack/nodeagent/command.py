"""A container's argv and the program it executes, as a container runtime would pick them.

`command` replaces the image's ENTRYPOINT and `args` its CMD (both after `$(VAR)` expansion).
The program comes from the image's bin dirs first: an absolute path such as
`/usr/local/bin/etcd` runs the image's `etcd` when the image has one, else the host's file at
that path; a bare name is searched on the container's PATH (image dirs + host PATH).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nodeagent.expand import expand_all


class CommandError(Exception):
    """The command cannot be run (reported as a StartError / CreateContainerError)."""


def container_argv(
    container: Mapping[str, Any],
    entrypoint: Sequence[str],
    cmd: Sequence[str],
    env: Mapping[str, str],
) -> list[str]:
    command = expand_all(list(container.get("command") or []), env)
    args = expand_all(list(container.get("args") or []), env)
    if command:
        argv = command + args
    else:
        argv = list(entrypoint) + (args if args else list(cmd))
    if not argv:
        raise CommandError("no command specified")
    return argv


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def resolve_program(
    arg0: str,
    bin_dirs: Sequence[Path],
    path_env: str,
    cwd: str = "/",
    is_executable: Callable[[str], bool] = _is_executable,
) -> str:
    """The file to execve for argv[0]."""
    if "/" in arg0:
        if os.path.isabs(arg0):
            base = os.path.basename(arg0)
            for d in bin_dirs:
                in_image = str(d / base)
                if base and is_executable(in_image):
                    return in_image
            if is_executable(arg0):
                return arg0
            raise CommandError(f'exec: "{arg0}": stat {arg0}: no such file or directory')
        candidate = os.path.normpath(os.path.join(cwd, arg0))
        if is_executable(candidate):
            return candidate
        raise CommandError(f'exec: "{arg0}": stat {arg0}: no such file or directory')
    for entry in path_env.split(":"):
        if entry:
            on_path = os.path.join(entry, arg0)
            if is_executable(on_path):
                return on_path
    raise CommandError(f'exec: "{arg0}": executable file not found in $PATH')


def container_path(bin_dirs: Sequence[Path], path_env: str) -> str:
    """PATH inside the container: the image's bin dirs, then the given PATH."""
    dirs = [str(d) for d in bin_dirs] + [d for d in path_env.split(":") if d]
    return ":".join(dict.fromkeys(dirs))  # dict keeps the first of each, in order
