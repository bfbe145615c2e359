#!/usr/bin/env python3
"""Import-layer check: only controller/clients/ may import the I/O client libraries.

Reconcilers, planners and the runtime talk to the world through controller.clients, so they
stay testable without a cluster and the libraries can be swapped in one place. api/ is pure
types and imports no client library and nothing from controller/.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT_LIBS = {"kubernetes_asyncio", "etcd3aio", "aiobotocore", "botocore", "grpc", "aiohttp"}
ALLOWED = ROOT / "controller" / "clients"


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def main() -> int:
    errors = []
    for pkg in ("api", "controller"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            roots = imported_roots(path)
            rel = path.relative_to(ROOT)
            if not path.is_relative_to(ALLOWED):
                errors += [
                    f"{rel}: imports {lib} (only controller/clients/ may)"
                    for lib in sorted(roots & CLIENT_LIBS)
                ]
            if pkg == "api" and "controller" in roots:
                errors.append(f"{rel}: api/ must not import controller/")
    for err in errors:
        print(err, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
