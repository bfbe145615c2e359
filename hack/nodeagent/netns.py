"""Pod networking for the local node agent: a bridge, and one network namespace per Pod.

Each Pod gets /run/netns/<name> (`ip netns add`) and a veth pair: the host end is attached to
the bridge (10.213.0.1/16 is the bridge's own address, the pods' gateway), the pod end is
renamed eth0 inside the namespace. Everything shells out to iproute2's `ip`. Every function
is idempotent and tolerates half-done earlier attempts (the agent may have been killed between
two steps), so callers can simply retry.

Also the pure parts a Pod's filesystem needs: the resolv.conf and hosts file the kubelet would
write.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

NETNS_DIR = "/run/netns"
HOST_VETH_PREFIX = "eoh"  # host end of a pod's veth pair, on the bridge
PEER_VETH_PREFIX = "eop"  # pod end before it is moved into the namespace and renamed eth0
IFNAME_MAX = 15  # Linux IFNAMSIZ - 1
ARP_NOTIFY = "/proc/sys/net/ipv4/conf/all/arp_notify"


class NetnsError(RuntimeError):
    """An `ip` command failed in a way retrying the same call will not fix by itself."""


@dataclass
class PodNetwork:
    netns: str
    ip: str
    host_veth: str


def host_veth_name(netns: str) -> str:
    """Host-side veth name for a namespace: stable, unique enough, at most 15 characters."""
    return HOST_VETH_PREFIX + _digest(netns)


def peer_veth_name(netns: str) -> str:
    """Temporary name of the pod end while it still lives in the host namespace."""
    return PEER_VETH_PREFIX + _digest(netns)


def _digest(netns: str) -> str:
    return hashlib.sha256(netns.encode()).hexdigest()[: IFNAME_MAX - len(HOST_VETH_PREFIX)]


async def _ip(*args: str, check: bool = True) -> tuple[int, str, str]:
    """Runs `ip ARGS`; (returncode, stdout, stderr). check=True raises NetnsError on failure."""
    proc = await asyncio.create_subprocess_exec(
        "ip",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    rc = proc.returncode or 0
    if check and rc != 0:
        raise NetnsError(f"ip {' '.join(args)}: {err.decode(errors='replace').strip()}")
    return rc, out.decode(errors="replace"), err.decode(errors="replace")


async def _ip_json(*args: str) -> list[dict[str, Any]]:
    """`ip -j ARGS` decoded; [] when the object does not exist."""
    rc, out, _ = await _ip("-j", *args, check=False)
    if rc != 0 or not out.strip():
        return []
    data = json.loads(out)
    return data if isinstance(data, list) else []


async def _link(name: str, netns: str | None = None) -> dict[str, Any] | None:
    where = ("-n", netns) if netns else ()
    links = await _ip_json(*where, "link", "show", "dev", name)
    return links[0] if links else None


async def _has_addr(dev: str, cidr: str, netns: str | None = None) -> bool:
    where = ("-n", netns) if netns else ()
    addr, prefix = cidr.split("/")
    for link in await _ip_json(*where, "addr", "show", "dev", dev):
        for info in link.get("addr_info", []):
            if info.get("local") == addr and str(info.get("prefixlen")) == prefix:
                return True
    return False


async def ensure_bridge(bridge: str = "eo0", gateway_cidr: str = "10.213.0.1/16") -> None:
    """The bridge exists, carries the gateway address, and is up."""
    if await _link(bridge) is None:
        rc, _, err = await _ip("link", "add", bridge, "type", "bridge", check=False)
        if rc != 0 and "exists" not in err:
            raise NetnsError(f"creating bridge {bridge}: {err.strip()}")
    if not await _has_addr(bridge, gateway_cidr):
        rc, _, err = await _ip("addr", "add", gateway_cidr, "dev", bridge, check=False)
        if rc != 0 and "exists" not in err:
            raise NetnsError(f"adding {gateway_cidr} to {bridge}: {err.strip()}")
    await _ip("link", "set", bridge, "up")


async def delete_bridge(bridge: str = "eo0") -> None:
    await _ip("link", "del", bridge, check=False)


def _netns_exists(netns: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, netns))


async def _ensure_netns(netns: str) -> None:
    if _netns_exists(netns):
        return
    rc, _, err = await _ip("netns", "add", netns, check=False)
    if rc != 0 and "exists" not in err:
        raise NetnsError(f"creating netns {netns}: {err.strip()}")


async def _pod_side_ready(netns: str, host_veth: str, ip: str, prefix: int, bridge: str) -> bool:
    """True when an earlier call already finished everything."""
    host = await _link(host_veth)
    if host is None or host.get("master") != bridge or "UP" not in host.get("flags", []):
        return False
    eth0 = await _link("eth0", netns)
    if eth0 is None or "UP" not in eth0.get("flags", []):
        return False
    return await _has_addr("eth0", f"{ip}/{prefix}", netns)


async def setup_pod_network(
    netns: str, ip: str, *, bridge: str = "eo0", gateway: str = "10.213.0.1", prefix: int = 16
) -> PodNetwork:
    """Namespace + veth pair + eth0 with `ip`/`prefix` + lo + default route via `gateway`."""
    host_veth, peer = host_veth_name(netns), peer_veth_name(netns)
    result = PodNetwork(netns=netns, ip=ip, host_veth=host_veth)
    await _ensure_netns(netns)
    if await _pod_side_ready(netns, host_veth, ip, prefix, bridge):
        return result
    # Anything half-built is rebuilt from scratch: deleting either end of a veth pair deletes
    # both, wherever the other end lives.
    await _ip("link", "del", host_veth, check=False)
    await _ip("link", "del", peer, check=False)
    await _ip("-n", netns, "link", "del", "eth0", check=False)
    await _ip("link", "add", host_veth, "type", "veth", "peer", "name", peer)
    await _ip("link", "set", peer, "netns", netns)
    await _ip("-n", netns, "link", "set", peer, "name", "eth0")
    await _ip("-n", netns, "addr", "add", f"{ip}/{prefix}", "dev", "eth0")
    await _ip("-n", netns, "link", "set", "lo", "up")
    # A pod IP is often reused by the next pod with a new MAC: announce it when eth0 comes up
    # (gratuitous ARP), or neighbours keep sending to the dead MAC for a while.
    await _ip("netns", "exec", netns, "sh", "-c", f"echo 1 > {ARP_NOTIFY}")
    await _ip("-n", netns, "link", "set", "eth0", "up")
    await _ip("-n", netns, "route", "replace", "default", "via", gateway, "dev", "eth0")
    await _ip("link", "set", host_veth, "master", bridge)
    await _ip("link", "set", host_veth, "up")
    return result


async def teardown_pod_network(netns: str) -> None:
    """Removes the veth pair and the namespace (processes still inside keep it alive)."""
    gone = (
        [
            info["local"]
            for link in await _ip_json("-n", netns, "addr", "show", "dev", "eth0")
            for info in link.get("addr_info", [])
            if info.get("family") == "inet"
        ]
        if _netns_exists(netns)
        else []
    )
    await _ip("link", "del", host_veth_name(netns), check=False)
    await _ip("link", "del", peer_veth_name(netns), check=False)
    for addr in gone:  # forget its MAC on the host side, for the next pod with this IP
        await _ip("neigh", "flush", "to", addr, check=False)
    rc, _, err = await _ip("netns", "del", netns, check=False)
    if rc != 0 and _netns_exists(netns):
        raise NetnsError(f"deleting netns {netns}: {err.strip()}")


async def list_netns(prefix: str = "eo-") -> list[str]:
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix))


async def list_host_veths() -> list[str]:
    """Every veth end in the host namespace that this module created (pairs left behind)."""
    links = await _ip_json("link", "show")
    prefixes = (HOST_VETH_PREFIX, PEER_VETH_PREFIX)
    return sorted(
        str(lk["ifname"]) for lk in links if str(lk.get("ifname", "")).startswith(prefixes)
    )


async def delete_host_veths() -> None:
    """Deletes every veth end of ours left in the host namespace (see list_host_veths)."""
    for veth in await list_host_veths():
        await _ip("link", "del", veth, check=False)


ResolvOptions = dict[str, str | None]  # name -> value (None: a bare flag such as edns0)


def cluster_first_dns(
    namespace: str, nameserver: str = "10.213.0.1", domain: str = "cluster.local"
) -> tuple[list[str], list[str], ResolvOptions]:
    """The kubelet's nameservers, search path and options for dnsPolicy ClusterFirst."""
    searches = [f"{namespace}.svc.{domain}", f"svc.{domain}", domain]
    return [nameserver], searches, {"ndots": "5"}


def render_resolv_conf(nameservers: list[str], searches: list[str], options: ResolvOptions) -> str:
    lines = [f"nameserver {s}" for s in nameservers]
    if searches:
        lines.append("search " + " ".join(searches))
    if options:
        lines.append(
            "options " + " ".join(k if v is None else f"{k}:{v}" for k, v in options.items())
        )
    return "\n".join(lines) + "\n"


def resolv_conf(
    namespace: str, nameserver: str = "10.213.0.1", domain: str = "cluster.local"
) -> str:
    """What the kubelet writes for dnsPolicy ClusterFirst."""
    return render_resolv_conf(*cluster_first_dns(namespace, nameserver, domain))


def hosts_file(
    ip: str, hostname: str, subdomain: str | None, namespace: str, domain: str = "cluster.local"
) -> str:
    """The kubelet's managed /etc/hosts: localhost lines, then the pod's own names."""
    if subdomain:
        names = f"{hostname}.{subdomain}.{namespace}.svc.{domain}\t{hostname}"
    else:
        names = hostname
    return (
        "# Kubernetes-managed hosts file.\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n"
        f"{ip}\t{names}\n"
    )
