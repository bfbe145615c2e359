"""Fixtures for the node agent's e2e tests (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def agent_state(local_env: dict[str, str]) -> Path:
    """The running agent's state dir (process records, logs)."""
    return Path(local_env["LOCAL_STATE"]) / "nodeagent"
