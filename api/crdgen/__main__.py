"""`python -m api.crdgen --out DIR` writes the CRDs; with `--check` it only compares.

The check exits 1 with a unified diff when the committed files differ from what the types
generate, so CI catches a type change that was not followed by `make manifests`.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from api.crdgen import render_crds
from api.meta import GROUP


def _generated_names(out: Path) -> set[str]:
    """Files in `out` that look like ours, so stale ones from renamed kinds are noticed."""
    return {p.name for p in out.glob(f"*.{GROUP}.yaml")}


def check(out: Path) -> int:
    wanted = render_crds()
    problems: list[str] = []
    for name, text in sorted(wanted.items()):
        path = out / name
        if not path.exists():
            problems.append(f"{path}: missing")
            continue
        current = path.read_text()
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{path} (committed)",
                tofile=f"{path} (generated from api/)",
            )
            problems.append("".join(diff))
    for name in sorted(_generated_names(out) - wanted.keys()):
        problems.append(f"{out / name}: stale, no type generates it")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"{out} is out of date with api/: run `make manifests`", file=sys.stderr)
        return 1
    print(f"{out}: {len(wanted)} CRDs up to date")
    return 0


def write(out: Path) -> int:
    wanted = render_crds()
    out.mkdir(parents=True, exist_ok=True)
    for name in sorted(_generated_names(out) - wanted.keys()):
        (out / name).unlink()
        print(f"removed stale {out / name}")
    for name, text in sorted(wanted.items()):
        path = out / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.crdgen", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="directory of the CRD files")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a diff")
    args = parser.parse_args(argv)
    return check(args.out) if args.check else write(args.out)


if __name__ == "__main__":
    sys.exit(main())
