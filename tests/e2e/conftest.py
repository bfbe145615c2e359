"""Fixtures of the operator e2e tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.operator import Operator


@pytest.fixture
def operators(local_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Operator]]:
    """Starts operators on demand; stops them and prints their log when a test fails."""
    started: list[Operator] = []
    log_path = tmp_path / "operator.log"

    def start(faults: str = "", args: tuple[str, ...] = ()) -> Operator:
        op = Operator(local_env, log_path, faults, args)
        started.append(op)
        return op

    yield start
    for op in started:
        op.stop()
    if log_path.exists():
        print(f"--- operator log ({log_path}) ---\n{log_path.read_text(errors='replace')[-20000:]}")
