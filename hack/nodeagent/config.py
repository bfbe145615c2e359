"""The node agent's settings and the paths it derives from them.

One `AgentConfig` is built from the command line and handed to everything else, so no module
reads the environment or guesses a path on its own.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class AgentConfig:
    root: Path  # the checkout
    nodes: int = 3
    kubeconfig: Path | None = None
    state_dir: Path | None = None
    images_file: Path | None = None
    node_prefix: str = "node-"
    netns_prefix: str = "eo-"
    bridge: str = "eo0"
    gateway: str = "10.213.0.1"
    pod_network: str = "10.213.0.0/16"
    cluster_dns: str = "10.213.0.1"
    cluster_domain: str = "cluster.local"
    api_host: str = "10.213.0.1"
    api_port: int = 6443
    kubelet_port_base: int = 10250
    dns_port: int = 53
    run_dns: bool = True
    run_provisioner: bool = True
    # On agent shutdown every pod gets at most this long to stop (cluster-down waits 60 s).
    shutdown_grace: float = 30.0
    extra_labels: dict[str, str] = field(default_factory=dict)
    # A second agent (tests) takes other node numbers, hence other subnets and ports.
    first_node: int = 1
    taints: tuple[dict[str, str], ...] = ()

    @property
    def local(self) -> Path:
        return self.root / ".local"

    @property
    def kubeconfig_path(self) -> Path:
        return self.kubeconfig or self.local / "kubeconfig"

    @property
    def state(self) -> Path:
        return self.state_dir or self.local / "nodeagent"

    @property
    def pki(self) -> Path:
        return self.local / "pki"

    @property
    def volumes_root(self) -> Path:
        return self.local / "volumes"

    @property
    def prefix_len(self) -> int:
        return ipaddress.ip_network(self.pod_network).prefixlen

    @property
    def node_indexes(self) -> range:
        return range(self.first_node, self.first_node + self.nodes)

    def node_name(self, index: int) -> str:
        return f"{self.node_prefix}{index}"

    def kubelet_port(self, index: int) -> int:
        return self.kubelet_port_base + index

    def node_subnet(self, index: int) -> ipaddress.IPv4Network:
        """Node i allocates pod IPs from the i-th /24 of the pod network."""
        net = ipaddress.ip_network(self.pod_network)
        base = int(net.network_address) + (index << 8)
        return ipaddress.IPv4Network((base, 24))


@dataclass(frozen=True)
class StatePaths:
    """Layout of the state directory (everything the agent writes lives here)."""

    root: Path

    @property
    def procs(self) -> Path:
        """One JSON record per live process group the agent started (for cleanup)."""
        return self.root / "procs"

    @property
    def pods(self) -> Path:
        return self.root / "pods"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def mountpoints(self) -> Path:
        """Directories the agent created on the host only to mount over (removed on cleanup)."""
        return self.root / "mountpoints.txt"

    def pod_dir(self, uid: str) -> Path:
        return self.pods / uid

    def pod_log_dir(self, namespace: str, name: str, uid: str) -> Path:
        return self.logs / f"{namespace}_{name}_{uid}"
