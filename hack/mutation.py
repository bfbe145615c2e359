#!/usr/bin/env python3
"""Mutation testing of the operator's core with mutmut 3 (`make mutation`, `make mutation-fast`).

mutmut works on a copy: it writes every module below into `mutants/` with each function's
mutants behind a trampoline, records which tests call which function (one run of the selected
tests), then runs, for each mutant, only the tests that reached its function. This driver does
that in a scratch copy of the checkout (under $TMPDIR; nothing is written into the work tree, so
it runs while others edit it), with the unit test files each module is mapped to in TARGETS, and
prints:

- the issue's named mutants (NAMED), each applied by hand to the copy: its tests must fail;
- every surviving mutant, file:line and diff, `[equivalent]` when hack/mutation-equivalents.md
  explains it, `[no tests]` when no mapped test reaches its function;
- per module: mutants, killed, timeout, survived, equivalent, kill rate = (killed + timeout) /
  mutants, and score = the same over the non-equivalent ones, which is what the goal is
  checked against (exit 1 when a goal or a named mutant fails, unless --no-check).

A mutant whose tests hang or spin fails at pytest-timeout's 5 s and counts as killed; mutmut's
own CPU-time limit (a "timeout") is only a backstop. Log statements (`log.info(...)` etc.) are
not mutated (LOG_STATEMENT).

    hack/mutation.py                 every module, then the named mutants
    hack/mutation.py --fast          the CI subset (FAST below)
    hack/mutation.py --module planner --module status
    hack/mutation.py --rev HEAD      the last commit, without the work tree's uncommitted edits
    hack/mutation.py --named-only    only the issue's named mutants (about a minute)
    hack/mutation.py --keep DIR      keep the mutmut copy in DIR (then `mutmut show NAME` there)
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "hack" / "mutation-equivalents.md"
UNIT = "tests/unit/"


@dataclass(frozen=True)
class Target:
    path: str  # the module, relative to the checkout
    tests: tuple[str, ...]  # the unit test files that cover it (missing ones are skipped)
    goal: float  # kill-rate goal in percent, on non-equivalent mutants


def _t(*names: str) -> tuple[str, ...]:
    return tuple(UNIT + n for n in names)


# The simulated world (tests/sim) drives the real planner and executor; its deterministic tests
# (test_executor_ordering) are mapped to both. Its hypothesis properties (test_sim_properties)
# are not: they take minutes per run, and mutmut would run them again for every mutant they reach.
SIM = _t("test_executor_ordering.py")

PLANNER_TESTS = _t(
    "test_etcdcluster_planner.py",
    "test_etcdcluster_nodes.py",
    "test_etcdcluster_recovery.py",
    "test_etcdcluster_restore.py",
    "test_etcdcluster_rolling.py",
    "test_mutation_kills_planner.py",
)
TARGETS: dict[str, Target] = {
    "planner": Target("controller/etcdcluster/planner.py", PLANNER_TESTS + SIM, 90),
    "recovery": Target("controller/etcdcluster/recovery.py", PLANNER_TESTS + SIM, 90),
    # (The maintenance runner, maintenance_runner.py, is not a target: it is proven against
    # real etcd in tests/integration, which mutmut's unit runs do not reach.)
    "maintenance": Target(
        "controller/etcdcluster/maintenance.py", _t("test_etcdcluster_maintenance.py"), 90
    ),
    "restore": Target("controller/etcdcluster/restore.py", PLANNER_TESTS, 90),
    "restore-planner": Target(
        "controller/etcdrestore/planner.py", _t("test_etcdrestore_planner.py"), 90
    ),
    "rolling": Target(
        "controller/etcdcluster/rolling.py",
        (*PLANNER_TESTS, *_t("test_mutation_kills_naming.py"), *SIM),
        90,
    ),
    "backup-planner": Target(
        "controller/etcdbackup/planner.py",
        _t("test_etcdbackup_planner.py", "test_mutation_kills_backup.py"),
        90,
    ),
    "status": Target(
        "controller/etcdcluster/status.py",
        _t(
            "test_etcdcluster_status.py",
            "test_etcdcluster_recovery.py",
            "test_etcdcluster_rolling.py",
            "test_mutation_kills_status.py",
        ),
        90,
    ),
    "backup-status": Target(
        "controller/etcdbackup/status.py",
        _t(
            "test_etcdbackup_status.py",
            "test_etcdbackup_planner.py",
            "test_mutation_kills_backup.py",
        ),
        90,
    ),
    "naming": Target(
        "controller/etcdcluster/naming.py",
        _t(
            "test_etcdcluster_naming.py",
            "test_etcdcluster_resources.py",
            "test_etcdcluster_planner.py",
            "test_mutation_kills_naming.py",
        ),
        90,
    ),
    "backup-retention": Target(
        "controller/etcdbackup/naming.py",
        _t(
            "test_etcdbackup_retention.py",
            "test_etcdbackup_planner.py",
            "test_mutation_kills_naming.py",
        ),
        90,
    ),
    "executor": Target(
        "controller/etcdcluster/executor.py",
        _t("test_mutation_kills_executor.py", "test_etcdcluster_faults.py") + SIM,
        80,
    ),
    "reconciler": Target(
        "controller/etcdcluster/reconciler.py",
        _t("test_etcdcluster_reconciler.py", "test_mutation_kills_reconciler.py"),
        80,
    ),
    "workqueue": Target(
        "controller/runtime/workqueue.py",
        _t("test_workqueue.py", "test_mutation_kills_workqueue.py"),
        90,
    ),
    "ratelimit": Target(
        "controller/runtime/ratelimit.py",
        _t(
            "test_ratelimit.py",
            "test_workqueue.py",
            "test_runtime_apiclient.py",
            "test_mutation_kills_workqueue.py",
        ),
        90,
    ),
    "leader": Target(
        "controller/runtime/leader.py",
        _t("test_leader.py", "test_runtime_manager.py", "test_mutation_kills_leader.py"),
        90,
    ),
}
# `make mutation-fast`: the pure decision modules, whose tests are the fastest per mutant.
FAST = ("planner", "status", "naming", "backup-retention", "ratelimit")

# What the mutated modules import from the checkout besides themselves (copied unmutated).
ALSO_COPY = ("api", "hack", "tests", "pyproject.toml")
DETECTED = ("killed", "timeout", "caught by type check")
LOG_STATEMENT = r"^\s*log\.(debug|info|warning|error|exception)\("


@dataclass(frozen=True)
class Named:
    """A mutant the project's issue names: `make test` must kill it (hand-written, checked
    by applying it to a scratch copy and running the unit tests listed)."""

    title: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


NAMED = (
    Named(
        "removal_candidate may remove the leader",
        "controller/etcdcluster/planner.py",
        "others = [v for v in etcd.voting if v.member.id != etcd.leader]",
        "others = list(etcd.voting)",
        _t("test_etcdcluster_planner.py"),
    ),
    Named(
        "member removal deletes the PVC before the pod",
        "controller/etcdcluster/executor.py",
        "await self._delete(PODS, cluster, action.pod)\n"
        '            fault_point("after-pod-delete")\n'
        "            await self._delete(PVCS, cluster, action.pod)",
        "await self._delete(PVCS, cluster, action.pod)\n"
        '            fault_point("after-pod-delete")\n'
        "            await self._delete(PODS, cluster, action.pod)",
        _t("test_executor_ordering.py", "test_mutation_kills_executor.py"),
    ),
    Named(
        "the status is written on every pass",
        "controller/etcdcluster/reconciler.py",
        "if before == after:",
        "if False:",
        _t("test_etcdcluster_reconciler.py", "test_mutation_kills_reconciler.py"),
    ),
    Named(
        "a wrong ScalingDown reason",
        "controller/etcdcluster/status.py",
        'return "ScalingDown",',
        'return "ScalingUp",',
        _t("test_etcdcluster_status.py"),
    ),
    Named(
        "targetVersion never set",
        "controller/etcdcluster/status.py",
        "status.target_version = want if status.current_version not in (None, want) else None",
        "status.target_version = None",
        _t("test_etcdcluster_status.py"),
    ),
    Named(
        "observedGeneration never set",
        "controller/etcdcluster/status.py",
        "status.observed_generation = cluster.metadata.generation",
        "pass",
        _t("test_etcdcluster_status.py"),
    ),
    Named(
        "controlPaused never set",
        "controller/etcdcluster/status.py",
        "status.control_paused = isinstance(action, Paused)",
        "status.control_paused = False",
        _t("test_etcdcluster_status.py"),
    ),
    Named(
        "MemberPromoting never reported",
        "controller/etcdcluster/status.py",
        'return "MemberPromoting",',
        'return "ScalingUp",',
        _t("test_etcdcluster_status.py"),
    ),
    Named(
        "informer stops at the first failing handler",
        "controller/runtime/informer.py",
        "self._call(handler, delta.type, delta.old, delta.new)",
        "try:\n                    handler(delta.type, delta.old, delta.new)\n"
        "                except Exception:\n                    break",
        _t("test_informer_store.py", "test_runtime_informer.py", "test_mutation_kills_runtime.py"),
    ),
    Named(
        "the manager does not drain on stop",
        "controller/runtime/manager.py",
        "await self._drain(workers)",
        "pass",
        _t("test_runtime_manager.py", "test_manager.py", "test_mutation_kills_runtime.py"),
    ),
    Named(
        "SIGTERM does not stop the manager (no drain: the process dies)",
        "controller/cmd.py",
        "loop.add_signal_handler(sig, mgr.stop)",
        "pass",
        _t("test_mutation_kills_runtime.py"),
    ),
)


@dataclass
class Mutant:
    name: str  # mutmut's: controller.etcdcluster.planner.x_plan__mutmut_3
    status: str
    diff: str = ""
    line: int | None = None


@dataclass
class Row:
    target: Target
    mutants: list[Mutant] = field(default_factory=list)

    def count(self, *statuses: str) -> int:
        return sum(1 for m in self.mutants if m.status in statuses)


# --- equivalents ------------------------------------------------------------------------------
def load_equivalents() -> dict[str, str]:
    """mutant name -> its explanation, from the `### NAME` headings of the equivalents file."""
    if not EQUIVALENTS.exists():
        return {}
    found: dict[str, str] = {}
    name = None
    for line in EQUIVALENTS.read_text().splitlines():
        heading = re.match(r"^### `?([\w.ǁ]+__mutmut_\d+)`?", line)
        if heading:
            name = heading.group(1)
            found[name] = ""
        elif name and line.strip() and not line.startswith(("```", "#", "-", "+", "@")):
            found[name] = found[name] or line.strip()
    return found


# --- the run ----------------------------------------------------------------------------------
def copy_checkout(dest: Path, rev: str | None) -> None:
    """The files mutmut needs: the packages, the tests and the project file, as they are in
    the work tree, or as commit `rev` has them (others' unfinished edits left out)."""
    names = ("controller", *ALSO_COPY)
    if rev is not None:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", rev, *names],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        return
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc", ".local", "mutants")
    for name in names:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore, symlinks=True)
        elif src.exists():
            shutil.copy2(src, dest / name)


def write_config(dest: Path, targets: Iterable[Target]) -> list[str]:
    targets = list(targets)
    tests = sorted({t for target in targets for t in target.tests if (dest / t).exists()})

    def lines(key: str, values: Iterable[str]) -> str:
        return f"{key} =\n" + "".join(f"    {v}\n" for v in values)

    (dest / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = controller\n"
        + lines("only_mutate", [t.path for t in targets])
        + lines("also_copy", ALSO_COPY)
        # Log statements are not mutated: their wording and arguments are no behaviour the
        # tests pin down; in the run of 35c69b9 they made 153 mutants, 114 of them survivors.
        + lines("do_not_mutate_patterns", [LOG_STATEMENT])
        + lines("pytest_add_cli_args_test_selection", tests)
        # A mutant that hangs (a lost wake-up) or spins (a retry loop without its sleep) fails
        # its test after 5 s of wall time (pytest-timeout: a kill); the tests take < 0.5 s.
        + lines("pytest_add_cli_args", ["-p", "no:cacheprovider", "-q", "--timeout=5"])
        # mutmut's own CPU-time limit, (clean time + 5 s) x 4, is then only a backstop: with a
        # small constant the pytest session's own start-up exceeds it and passing mutants
        # would count as timeouts.
        + "timeout_multiplier = 2\n"
        + "timeout_constant = 5\n"
        + "use_git_change_detection = false\n"
        # Every mutant's tests in a fresh fork of a process that only collected them: with the
        # default (fork the process that already ran the whole selection twice) tests that read
        # process-wide state, like the metrics registry's totals, fail for every mutant.
        + "process_isolation = forkserver\n"
    )
    return tests


def run_mutmut(work: Path, jobs: int) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = work / "mutmut-run.log"
    # mutmut redraws a progress line with \r; keep the last state of each line.
    log.write_text("\n".join(part.rsplit("\r", 1)[-1] for part in proc.stdout.splitlines()))
    if proc.returncode != 0:
        sys.stdout.write(log.read_text()[-6000:] + "\n")
        raise SystemExit(f"mutmut run failed (exit {proc.returncode}); log: {log}")


def mutmut_results(work: Path, targets: list[Target]) -> dict[str, list[Mutant]]:
    """Each target's mutants with their status, and the diff of those not detected (read
    in-process from mutmut's `.meta` files and mutated modules, as `mutmut show` would)."""
    from mutmut.configuration import reset_config
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    found: dict[str, list[Mutant]] = {}
    before = Path.cwd()
    os.chdir(work)  # mutmut reads its setup.cfg and mutants/ from the working directory
    try:
        reset_config()
        for target in targets:
            meta = json.loads((work / "mutants" / (target.path + ".meta")).read_text())
            mutants = found.setdefault(target.path, [])
            for name, code in sorted(meta["exit_code_by_key"].items(), key=_mutant_order):
                mutant = Mutant(name, status_by_exit_code[code])
                if mutant.status not in DETECTED:
                    diff = get_diff_for_mutant(name, path=target.path)
                    mutant.diff = "\n".join(
                        line for line in diff.splitlines() if not line.startswith(("---", "+++"))
                    )
                    mutant.line = source_line(work / target.path, name, mutant.diff)
                mutants.append(mutant)
    finally:
        os.chdir(before)
    return found


def _mutant_order(item: tuple[str, object]) -> tuple[str, int]:
    name = item[0]
    base, _, number = name.rpartition("__mutmut_")
    return base, int(number)


def function_of(name: str) -> tuple[str | None, str]:
    """(class, function) of a mutant name: x_plan__mutmut_3, xǁExecutorǁapply__mutmut_7."""
    last = name.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0]
    if last.startswith("xǁ"):
        _, cls, func = last.split("ǁ", 2)
        return cls, func
    return None, last.removeprefix("x_")


def source_line(path: Path, name: str, diff: str) -> int | None:
    """The original file's line of the first changed line of the mutant's diff."""
    cls, func = function_of(name)
    tree = ast.parse(path.read_text())
    body: list[ast.stmt] = tree.body
    if cls is not None:
        owner = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == cls), None)
        body = owner.body if owner else []
    node = next(
        (
            n
            for n in body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == func
        ),
        None,
    )
    if node is None:
        return None
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    offset = None
    hunk_line = 0
    for line in diff.splitlines():
        hunk = re.match(r"@@ -(\d+)", line)
        if hunk:
            hunk_line = int(hunk.group(1))
            continue
        if line.startswith("-"):
            offset = hunk_line
            break
        if line.startswith(" "):
            hunk_line += 1
    return None if offset is None else start + offset - 1


def pytest_in(work: Path, tests: Iterable[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--timeout=60"]
        + [t for t in tests if (work / t).exists()],
        cwd=work,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
    )


def check_named(work: Path) -> tuple[str, bool]:
    """Applies each NAMED mutant in the scratch copy and runs its tests: all must fail."""
    clean = pytest_in(work, sorted({t for n in NAMED for t in n.tests}))
    if clean.returncode != 0:
        sys.stdout.write(clean.stdout[-4000:])
        raise SystemExit("the named mutants' tests fail without any mutant")
    lines = ["| named mutant | where | killed by |", "|---|---|---|"]
    ok = True
    for named in NAMED:
        path = work / named.path
        source = path.read_text()
        if source.count(named.old) != 1:
            lines.append(f"| {named.title} | {named.path} | ✗ code changed: update NAMED |")
            ok = False
            continue
        line = source[: source.index(named.old)].count("\n") + 1
        path.write_text(source.replace(named.old, named.new))
        try:
            run = pytest_in(work, named.tests)
        finally:
            path.write_text(source)
        failed = re.findall(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", run.stdout, re.MULTILINE)
        if run.returncode == 0:
            by, ok = "✗ SURVIVED", False
        elif failed:
            by = failed[0].replace("tests/unit/", "")
        else:
            by = f"pytest exit {run.returncode} (process killed)"
        lines.append(f"| {named.title} | {named.path}:{line} | {by} |")
    return "\n".join(lines), ok


# --- the report -------------------------------------------------------------------------------
def rate(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:5.1f}%" if whole else "    -"


def report(rows: list[Row], equivalents: dict[str, str], seconds: float) -> tuple[str, bool]:
    out: list[str] = []
    head = (
        f"| {'module':<36} | mutants | killed | timeout | survived | equivalent | kill rate "
        f"|  score | goal |"
    )
    out += [head, "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"]
    ok = True
    totals = [0, 0, 0, 0, 0]
    for row in rows:
        total = len(row.mutants)
        killed = row.count("killed", "caught by type check")
        timeout = row.count("timeout")
        survived = total - killed - timeout
        equivalent = sum(
            1 for m in row.mutants if m.name in equivalents and m.status not in DETECTED
        )
        detected = killed + timeout
        score_base = total - equivalent
        met = score_base == 0 or 100.0 * detected / score_base >= row.target.goal
        ok &= met
        for i, v in enumerate((total, killed, timeout, survived, equivalent)):
            totals[i] += v
        out.append(
            f"| {row.target.path:<36} | {total:>7} | {killed:>6} | {timeout:>7} | {survived:>8} "
            f"| {equivalent:>10} | {rate(detected, total):>9} | {rate(detected, score_base):>6} "
            f"| {row.target.goal:>3.0f}%{'' if met else ' ✗'} |"
        )
    total, killed, timeout, survived, equivalent = totals
    out.append(
        f"| {'all':<36} | {total:>7} | {killed:>6} | {timeout:>7} | {survived:>8} "
        f"| {equivalent:>10} | {rate(killed + timeout, total):>9} "
        f"| {rate(killed + timeout, total - equivalent):>6} |      |"
    )
    out.append("")
    out.append(
        "kill rate = (killed + timeout) / mutants; score = the same over mutants not listed as "
        "equivalent in hack/mutation-equivalents.md; the goal applies to the score."
    )
    out.append(f"took {seconds:.0f} s on {os.cpu_count()} cores")
    return "\n".join(out), ok


def survivors(rows: list[Row], equivalents: dict[str, str]) -> str:
    out: list[str] = []
    for row in rows:
        for m in row.mutants:
            if m.status in DETECTED:
                continue
            tag = "equivalent" if m.name in equivalents else m.status
            where = f"{row.target.path}:{m.line}" if m.line else row.target.path
            out.append(f"--- {where}  {m.name}  [{tag}]")
            out.append(m.diff.strip() or "(no diff)")
            out.append("")
    return "\n".join(out) if out else "no survivors"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", choices=sorted(TARGETS), default=[])
    parser.add_argument("--fast", action="store_true", help=f"only {', '.join(FAST)}")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", type=Path, help="run (and leave the copy) in this directory")
    parser.add_argument("--rev", help="test this commit (e.g. HEAD) instead of the work tree")
    parser.add_argument("--named-only", action="store_true", help="only the issue's named mutants")
    parser.add_argument("--no-named", action="store_true", help="skip the issue's named mutants")
    parser.add_argument("--no-check", action="store_true", help="exit 0 even if a goal is missed")
    args = parser.parse_args(argv)

    names = args.module or (list(FAST) if args.fast else list(TARGETS))
    targets = [] if args.named_only else [TARGETS[n] for n in names]
    equivalents = load_equivalents()

    if args.keep:
        work = args.keep.resolve()
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="etcd-operator-mutation-"))
    started = time.monotonic()
    ok = True
    try:
        copy_checkout(work, args.rev)
        if not args.no_named:
            named_table, ok = check_named(work)
        if targets:
            tests = write_config(work, targets)
            print(f"mutating {', '.join(t.path for t in targets)}")
            print(f"with {len(tests)} test files: {' '.join(Path(t).name for t in tests)}")
            sys.stdout.flush()
            run_mutmut(work, args.jobs)
            rows = [Row(t) for t in targets]
            found = mutmut_results(work, targets)
            for row in rows:
                row.mutants = found[row.target.path]
            print()
            print("## Surviving mutants")
            print()
            print(survivors(rows, equivalents))
            modules = {t.path.removesuffix(".py").replace("/", ".") for t in targets}
            names_found = {m.name for row in rows for m in row.mutants}
            stale = sorted(
                n for n in equivalents if n not in names_found and n.rsplit(".", 1)[0] in modules
            )
            if stale:
                print("listed as equivalent but not found (renumbered? update the file):")
                print("".join(f"  {n}\n" for n in stale))
        if not args.no_named:
            print()
            print("## The issue's named mutants (each must fail its tests)")
            print()
            print(named_table)
        if targets:
            table, goals_met = report(rows, equivalents, time.monotonic() - started)
            ok &= goals_met
            print()
            print(f"## Mutation testing ({datetime.now(UTC):%Y-%m-%d}, mutmut)")
            print()
            print(table)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if not ok:
        print("a module misses its goal, or a named mutant survived")
    return 0 if ok or args.no_check else 1


if __name__ == "__main__":
    sys.exit(main())
