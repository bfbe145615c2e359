"""resolv.conf, hosts and names for a pod's sandbox."""

from pathlib import Path

import pytest
from nodeagent.config import AgentConfig
from nodeagent.mountpoints import MountPointError, check_target
from nodeagent.sandbox import hosts_file, netns_name, pod_hostname, resolv_conf

CFG = AgentConfig(root=Path("/checkout"))


def pod(**spec: object) -> dict:
    return {
        "metadata": {"name": "example-abc", "namespace": "default", "uid": "0a1b2c3d-4e5f"},
        "spec": spec,
    }


def test_cluster_first() -> None:
    text = resolv_conf(pod(), CFG)
    assert text is not None
    assert "nameserver 10.213.0.1" in text
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in text
    assert "ndots:5" in text


def test_dns_policies() -> None:
    assert resolv_conf(pod(dnsPolicy="Default"), CFG) is None
    assert resolv_conf(pod(hostNetwork=True), CFG) is None
    assert "10.213.0.1" in (
        resolv_conf(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"), CFG) or ""
    )
    custom = resolv_conf(
        pod(
            dnsPolicy="None",
            dnsConfig={
                "nameservers": ["10.213.0.9"],
                "searches": ["a.b"],
                "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
            },
        ),
        CFG,
    )
    assert custom == "nameserver 10.213.0.9\nsearch a.b\noptions ndots:2 edns0\n"


def test_hostname_and_hosts() -> None:
    p = pod(
        hostname="example-abc",
        subdomain="example",
        hostAliases=[{"ip": "10.0.0.1", "hostnames": ["foo", "bar"]}],
    )
    assert pod_hostname(p) == "example-abc"
    text = hosts_file(p, "10.213.1.2", CFG)
    assert "10.213.1.2\texample-abc.example.default.svc.cluster.local\texample-abc" in text
    assert "10.0.0.1\tfoo\tbar" in text
    assert pod_hostname(pod()) == "example-abc"


def test_netns_names_fit_and_are_per_node() -> None:
    assert netns_name(CFG, 2, "0a1b2c3d-4e5f-6789") == "eo-2-0a1b2c3d4e"


@pytest.mark.parametrize("target", ["/", "/usr", "/etc", "/proc", "/checkout/..", "/", "/root"])
def test_mounts_over_system_dirs_are_refused(target: str) -> None:
    with pytest.raises(MountPointError):
        check_target(target, [Path("/checkout")])


def test_mounts_hiding_the_checkout_are_refused() -> None:
    with pytest.raises(MountPointError, match="would hide"):
        check_target("/checkout-parent", [Path("/checkout-parent/checkout")])
    check_target("/var/etcd", [Path("/checkout")])
    check_target("/etc/etcdtls/member/peer-tls", [Path("/checkout")])
    check_target("/checkout/data", [Path("/checkout")])
