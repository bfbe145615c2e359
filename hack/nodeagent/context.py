"""What every part of the agent shares: the API client, settings, and host-wide tables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from controller.clients.kube import KubeClient
from nodeagent.config import AgentConfig, StatePaths
from nodeagent.images import ImageTable
from nodeagent.procs import ProcTable

HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class AgentContext:
    kube: KubeClient
    config: AgentConfig
    paths: StatePaths
    procs: ProcTable
    images: ImageTable
    node_allocatable: dict[str, str] = field(default_factory=dict)
    host_path_env: str = HOST_PATH

    @property
    def launcher(self) -> Path:
        return Path(__file__).with_name("launch.py")

    def protected_paths(self) -> list[Path]:
        """Paths a container mount must never hide: the code and tools that run it."""
        venv_python = Path(os.path.realpath(self.config.root / ".venv" / "bin" / "python"))
        return [self.config.root, self.paths.root, venv_python.parent]
