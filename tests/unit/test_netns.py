"""The pure parts of nodeagent.netns: interface names and a pod's resolv.conf / hosts file."""

from __future__ import annotations

import pytest
from nodeagent.netns import host_veth_name, hosts_file, peer_veth_name, resolv_conf


@pytest.mark.parametrize(
    "netns",
    ["eo-a", "eo-ic-12345", "eo-" + "x" * 200, "eo-default-example-abcde-7f9c2"],
)
def test_veth_names_fit_and_are_stable(netns: str) -> None:
    host, peer = host_veth_name(netns), peer_veth_name(netns)
    assert len(host) <= 15 and len(peer) <= 15
    assert host != peer and host != "eth0"
    assert host == host_veth_name(netns) and peer == peer_veth_name(netns)
    assert host.isascii() and host.isalnum()


def test_veth_names_differ_between_namespaces() -> None:
    names = {host_veth_name(f"eo-pod-{i}") for i in range(2000)}
    assert len(names) == 2000


@pytest.mark.parametrize(
    ("namespace", "args", "search"),
    [
        ("default", {}, "default.svc.cluster.local svc.cluster.local cluster.local"),
        ("team-a", {"domain": "k8s.test"}, "team-a.svc.k8s.test svc.k8s.test k8s.test"),
    ],
)
def test_resolv_conf(namespace: str, args: dict[str, str], search: str) -> None:
    lines = resolv_conf(namespace, **args).splitlines()
    assert lines == ["nameserver 10.213.0.1", f"search {search}", "options ndots:5"]


def test_resolv_conf_nameserver() -> None:
    assert resolv_conf("ns", nameserver="10.213.99.1").startswith("nameserver 10.213.99.1\n")


@pytest.mark.parametrize(
    ("subdomain", "own_line"),
    [
        ("etcd", "10.213.1.5\tetcd-0.etcd.ns1.svc.cluster.local\tetcd-0"),
        (None, "10.213.1.5\tetcd-0"),
    ],
)
def test_hosts_file(subdomain: str | None, own_line: str) -> None:
    lines = hosts_file("10.213.1.5", "etcd-0", subdomain, "ns1").splitlines()
    assert "127.0.0.1\tlocalhost" in lines
    assert lines[-1] == own_line
