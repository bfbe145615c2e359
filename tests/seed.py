"""The user's seed manifests and edits of them, shared by unit and integration tests.

The seeds live in ../shared/seed/manifests beside the checkout; tests/fixtures/seed holds
byte-identical copies (checked by test_api_seed) so the tests also run without shared/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_SEED = ROOT.parent / "shared" / "seed" / "manifests"
VENDORED_SEED = ROOT / "tests" / "fixtures" / "seed"
SEED = SHARED_SEED if SHARED_SEED.is_dir() else VENDORED_SEED
CLUSTER, BACKUP, RESTORE = "example-etcd-cluster.yaml", "periodic_backup_cr.yaml", "restore_cr.yaml"

Doc = dict[str, Any]
DELETE = object()  # as a value for set_field: remove the field


def load(path: Path) -> Doc:
    document: Doc = yaml.safe_load(path.read_text())
    return document


def load_seed(name: str) -> Doc:
    return load(SEED / name)


def set_field(document: Doc, path: str, value: Any) -> None:
    """Sets the field at dotted `path` (creating parents), or removes it for DELETE."""
    *parents, last = path.split(".")
    node = document
    for key in parents:
        node = node.setdefault(key, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
