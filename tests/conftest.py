"""Shared fixtures: the local environment started by `make cluster-up`, reached for real.

Integration and e2e tests talk to the real API server; when the environment is not up they
fail with the command that starts it, rather than skipping (a skipped suite proves nothing).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from nodeagent.kinds import NAMESPACES

from controller.clients.kube import ApiError, KubeClient

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def _read_env_file(path: Path) -> dict[str, str]:
    """Values from .local/env (lines `export KEY=value`), expanded by the shell that wrote it."""
    out = subprocess.run(
        ["bash", "-c", f"set -a; source {path}; env -0"], capture_output=True, check=True
    ).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


@pytest.fixture(scope="session")
def local_env() -> dict[str, str]:
    env_file = LOCAL / "env"
    if not env_file.exists():
        pytest.fail("the local environment is not up: run `make cluster-up` (or `make test`)")
    return _read_env_file(env_file)


@pytest.fixture(scope="session")
def kubectl(local_env: dict[str, str]) -> Kubectl:
    """Runs kubectl against the local environment; check=False returns failures too."""

    def run(
        *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["kubectl", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, **local_env},
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stderr}")
        return proc

    return run


@pytest.fixture
async def kube(local_env: dict[str, str]) -> AsyncIterator[KubeClient]:
    client = await KubeClient.connect(local_env["KUBECONFIG"])
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def namespace(kube: KubeClient) -> AsyncIterator[str]:
    """A fresh namespace per test, deleted afterwards (its pods and volumes with it)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    await kube.create(NAMESPACES, {"metadata": {"name": name}})
    try:
        yield name
    finally:
        try:
            await kube.delete(NAMESPACES, name)
        except ApiError as exc:
            if not exc.not_found:
                raise
