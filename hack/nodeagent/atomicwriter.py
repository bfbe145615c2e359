"""The kubelet's atomic writer: a volume of generated files that changes all at once.

Layout (identical to a kubelet's, so programs that watch `..data` work):
    <dir>/..2026_11_28_05_11_11.123456789/<files>   the current generation
    <dir>/..data -> ..2026_11_28_...                swapped atomically by rename
    <dir>/<top-level name> -> ..data/<top-level name>
A write with unchanged content touches nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DATA_LINK = "..data"


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int = 0o644


def _validate(rel: str) -> None:
    parts = rel.split("/")
    if rel.startswith("/") or ".." in parts or any(p.startswith("..") for p in parts) or not rel:
        raise ValueError(f"invalid volume file path {rel!r}")


def current_payload(directory: Path) -> dict[str, FileProjection] | None:
    gen = directory / DATA_LINK
    if not gen.is_symlink():
        return None
    root = directory / os.readlink(gen)
    out = {}
    for path in root.rglob("*"):
        if path.is_file():
            rel = str(path.relative_to(root))
            out[rel] = FileProjection(path.read_bytes(), path.stat().st_mode & 0o7777)
    return out


def write(directory: Path, payload: Mapping[str, FileProjection]) -> bool:
    """Makes `directory` show exactly `payload`; True if anything changed."""
    for rel in payload:
        _validate(rel)
    directory.mkdir(parents=True, exist_ok=True)
    if current_payload(directory) == dict(payload):
        return False
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}"
    gen_name = f"..{stamp}"
    gen_dir = directory / gen_name
    gen_dir.mkdir(mode=0o755)
    for rel, proj in payload.items():
        target = gen_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(proj.data)
        os.chmod(target, proj.mode)
    old_gen = os.readlink(directory / DATA_LINK) if (directory / DATA_LINK).is_symlink() else None
    tmp_link = directory / "..data_tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    os.symlink(gen_name, tmp_link)
    os.replace(tmp_link, directory / DATA_LINK)
    wanted = {rel.split("/")[0] for rel in payload}
    for name in wanted:
        link = directory / name
        if not link.is_symlink():
            os.symlink(f"{DATA_LINK}/{name}", link)
    for entry in directory.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.is_symlink() and entry.name not in wanted:
            entry.unlink()
    if old_gen and old_gen != gen_name:
        shutil.rmtree(directory / old_gen, ignore_errors=True)
    return True
