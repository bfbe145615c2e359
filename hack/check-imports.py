#!/usr/bin/env python3
"""Import-layer check: the layers of controller-runtime's shape, kept by CI (`make lint`).

- Only controller/clients/ imports the I/O client libraries; clients import no other part
  of controller/ (they are the bottom layer).
- controller/runtime/ is generic: it imports no reconciler, nothing etcd-specific
  (controller.common) and not api/.
- Reconciler packages (controller/etcd*/) never import each other; what they share lives in
  controller/common/.
- api/ is pure types: no client library and nothing from controller/.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CLIENT_LIBS = {"kubernetes_asyncio", "etcd3aio", "aiobotocore", "botocore", "grpc", "aiohttp"}
RECONCILER_PREFIX = "etcd"  # controller/etcdcluster, controller/etcdbackup, ...


def import_statements(path: Path) -> list[list[str]]:
    """Per import statement, the absolute modules it may load (`from a import b` may load
    a or a.b; `from controller import etcdcluster` is an import of a package)."""
    statements = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            statements += [[alias.name] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            statements.append(names if node.module == "controller" else [node.module])
    return statements


def layer_of(module: str) -> str | None:
    """`api`, `clients`, `runtime`, `common`, a reconciler's package name, or None."""
    parts = module.split(".")
    if parts[0] == "api":
        return "api"
    if parts[0] != "controller" or len(parts) < 2:
        return None
    return parts[1]


def violations(root: Path) -> list[str]:
    errors = []
    for pkg in ("api", "controller"):
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root)
            own = layer_of(".".join(rel.with_suffix("").parts))
            for modules in import_statements(path):
                found = [e for mod in modules for e in _check(own, mod)]
                errors += [f"{rel}: {e}" for e in found]
    return errors


def _check(own: str | None, mod: str) -> list[str]:
    lib = mod.split(".")[0]
    target = layer_of(mod)
    if lib in CLIENT_LIBS and own != "clients":
        return [f"imports {lib} (only controller/clients/ may)"]
    if target is None or target == own:
        return []
    if own == "api":
        return [f"imports {mod} (api/ must not import controller/)"]
    if own == "clients":
        return [f"imports {mod} (clients are the bottom layer)"]
    if own == "runtime" and (target in ("api", "common") or _is_reconciler(target)):
        return [f"imports {mod} (the runtime knows nothing of etcd or reconcilers)"]
    if _is_reconciler(own) and _is_reconciler(target):
        return [f"imports {mod} (reconcilers never import each other; share via common/)"]
    if own == "common" and _is_reconciler(target):
        return [f"imports {mod} (common/ serves the reconcilers, not the other way)"]
    return []


def _is_reconciler(layer: str | None) -> bool:
    return bool(layer and layer.startswith(RECONCILER_PREFIX))


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    errors = violations(root)
    for err in errors:
        print(err, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
