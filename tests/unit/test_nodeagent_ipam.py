"""Pod IPs from a node's /24."""

import ipaddress

import pytest
from nodeagent.config import AgentConfig
from nodeagent.ipam import IpPool, PoolExhausted


def test_node_subnets() -> None:
    cfg = AgentConfig(root=__import__("pathlib").Path("/x"))
    assert str(cfg.node_subnet(1)) == "10.213.1.0/24"
    assert str(cfg.node_subnet(3)) == "10.213.3.0/24"
    assert cfg.kubelet_port(2) == 10252


def test_round_robin_and_preferred() -> None:
    pool = IpPool(ipaddress.IPv4Network("10.213.1.0/24"))
    assert pool.allocate() == "10.213.1.2"
    assert pool.allocate() == "10.213.1.3"
    pool.release("10.213.1.2")
    assert pool.allocate() == "10.213.1.4"  # not reused at once
    assert pool.allocate("10.213.1.2") == "10.213.1.2"  # an earlier run's IP, when free
    assert pool.allocate("10.213.1.3") != "10.213.1.3"  # taken
    assert pool.allocate("10.9.9.9").startswith("10.213.1.")  # not ours


def test_exhaustion() -> None:
    pool = IpPool(ipaddress.IPv4Network("10.213.2.0/24"))
    ips = {pool.allocate() for _ in range(253)}
    assert len(ips) == 253 and "10.213.2.1" not in ips and "10.213.2.255" not in ips
    with pytest.raises(PoolExhausted):
        pool.allocate()
