"""A pod's sandbox: its network namespace and IP, and its /etc/resolv.conf and /etc/hosts.

The network plumbing is netns.py's; this module decides names and file contents the way a
kubelet does (dnsPolicy, dnsConfig, hostAliases, hostname/subdomain) and writes the files into
the pod's state dir, from where every container bind-mounts them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeagent import netns
from nodeagent.config import AgentConfig

log = logging.getLogger(__name__)
Obj = dict[str, Any]


@dataclass
class Sandbox:
    netns: str | None  # None for hostNetwork pods
    ip: str
    hostname: str
    resolv_conf: Path | None  # None: the host's resolv.conf stays visible
    hosts: Path

    @property
    def netns_path(self) -> str | None:
        return f"{netns.NETNS_DIR}/{self.netns}" if self.netns else None


def netns_name(config: AgentConfig, node_index: int, uid: str) -> str:
    return f"{config.netns_prefix}{node_index}-{uid.replace('-', '')[:10]}"


def pod_hostname(pod: Obj) -> str:
    spec, name = pod.get("spec", {}), pod["metadata"]["name"]
    return str(spec.get("hostname") or name)[:63].rstrip("-.")


def resolv_conf(pod: Obj, config: AgentConfig) -> str | None:
    """The pod's resolv.conf, or None when it should see the host's (dnsPolicy Default)."""
    spec = pod.get("spec", {})
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        policy = "Default"
    if policy == "ClusterFirstWithHostNet":
        policy = "ClusterFirst"
    extra = spec.get("dnsConfig") or {}
    if policy == "Default" and not extra:
        return None
    nameservers: list[str] = []
    searches: list[str] = []
    options: netns.ResolvOptions = {}
    if policy == "ClusterFirst":
        nameservers, searches, options = netns.cluster_first_dns(
            pod["metadata"]["namespace"], config.cluster_dns, config.cluster_domain
        )
    nameservers += [s for s in extra.get("nameservers") or [] if s not in nameservers]
    searches += [s for s in extra.get("searches") or [] if s not in searches]
    for opt in extra.get("options") or []:
        options[opt["name"]] = opt.get("value")
    return netns.render_resolv_conf(nameservers[:3], searches[:32], options)


def hosts_file(pod: Obj, ip: str, config: AgentConfig) -> str:
    spec = pod.get("spec", {})
    text = netns.hosts_file(
        ip,
        pod_hostname(pod),
        spec.get("subdomain"),
        pod["metadata"]["namespace"],
        config.cluster_domain,
    )
    for alias in spec.get("hostAliases") or []:
        names = "\t".join(alias.get("hostnames") or [])
        if names:
            text += f"{alias['ip']}\t{names}\n"
    return text


async def create(
    pod: Obj, config: AgentConfig, node_index: int, ip: str, pod_dir: Path, host_ip: str
) -> Sandbox:
    """Network namespace (unless hostNetwork) plus the generated files; idempotent."""
    host_network = bool(pod.get("spec", {}).get("hostNetwork"))
    name = None if host_network else netns_name(config, node_index, pod["metadata"]["uid"])
    address = host_ip if host_network else ip
    if name:
        await netns.setup_pod_network(
            name, ip, bridge=config.bridge, gateway=config.gateway, prefix=config.prefix_len
        )
    etc = pod_dir / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    conf = resolv_conf(pod, config)
    resolv_path = None
    if conf is not None:
        resolv_path = etc / "resolv.conf"
        resolv_path.write_text(conf)
    hosts_path = etc / "hosts"
    hosts_path.write_text(hosts_file(pod, address, config))
    return Sandbox(name, address, pod_hostname(pod), resolv_path, hosts_path)


async def destroy(sandbox: Sandbox) -> None:
    if sandbox.netns:
        await netns.teardown_pod_network(sandbox.netns)
