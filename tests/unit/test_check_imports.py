"""The import-layer check (hack/check-imports.py) fails on each forbidden import."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_imports", ROOT / "hack" / "check-imports.py")
assert _spec is not None and _spec.loader is not None
check_imports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_imports)


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "api").mkdir(exist_ok=True)
    return tmp_path


@pytest.mark.parametrize(
    "path, source, complaint",
    [
        ("controller/runtime/x.py", "from controller.etcdcluster import planner\n", "runtime"),
        ("controller/runtime/x.py", "import controller.etcdbackup.setup\n", "runtime"),
        ("controller/runtime/x.py", "from controller.common.ownership import BY_CLUSTER\n", "etcd"),
        ("controller/runtime/x.py", "from api import EtcdCluster\n", "runtime"),
        ("controller/etcdbackup/x.py", "from controller.etcdcluster import naming\n", "common/"),
        ("controller/common/x.py", "from controller.etcdrestore import setup\n", "common/"),
        ("controller/etcdcluster/x.py", "import grpc\n", "clients"),
        ("controller/clients/x.py", "from controller.runtime import clock\n", "bottom"),
        ("api/x.py", "from controller.runtime.store import Obj\n", "api/"),
    ],
)
def test_forbidden_import_fails(tmp_path: Path, path: str, source: str, complaint: str) -> None:
    errors = check_imports.violations(tree(tmp_path, {path: source}))
    assert len(errors) == 1 and complaint in errors[0], errors


@pytest.mark.parametrize(
    "path, source",
    [
        ("controller/etcdcluster/x.py", "from controller.runtime.cache import Cache\n"),
        ("controller/etcdcluster/x.py", "from controller.common.ownership import BY_CLUSTER\n"),
        ("controller/runtime/x.py", "from controller.clients.kube import KubeClient\n"),
        ("controller/clients/x.py", "import grpc\n"),
        ("controller/cmd.py", "from controller import etcdcluster, etcdbackup\n"),
    ],
)
def test_allowed_import_passes(tmp_path: Path, path: str, source: str) -> None:
    assert check_imports.violations(tree(tmp_path, {path: source})) == []


def test_this_checkout_keeps_its_layers() -> None:
    assert check_imports.violations(ROOT) == []
