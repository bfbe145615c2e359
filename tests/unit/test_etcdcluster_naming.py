"""Member names, URLs and the pod a peer URL names (the crash-safety link)."""

from __future__ import annotations

import re

import pytest

from controller.etcdcluster import naming


def test_member_names_are_coreos_shaped_and_distinct() -> None:
    names = {naming.new_member_name("example") for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert re.fullmatch(r"example-[a-z0-9]{10}", name)
        assert naming.is_member_name("example", name)


@pytest.mark.parametrize(
    "name, ok",
    [
        ("example-abcde12345", True),
        ("example-abcde1234", False),  # 9 characters
        ("example-ABCDE12345", False),
        ("example-client", False),
        ("other-abcde12345", False),
        ("example-x-abcde12345", False),
    ],
)
def test_is_member_name(name: str, ok: bool) -> None:
    assert naming.is_member_name("example", name) is ok


def test_urls_of_the_seed_cluster() -> None:
    pod = "example-abcde12345"
    assert naming.peer_url(pod, "example", "default", "", True) == (
        "https://example-abcde12345.example.default.svc:2380"
    )
    assert naming.client_url(pod, "example", "default", "", True) == (
        "https://example-abcde12345.example.default.svc:2379"
    )
    assert naming.peer_url(pod, "example", "ns", ".cluster.local", False) == (
        "http://example-abcde12345.example.ns.svc.cluster.local:2380"
    )


@pytest.mark.parametrize(
    "url, pod",
    [
        ("https://example-abcde12345.example.default.svc:2380", "example-abcde12345"),
        ("http://example-abcde12345.example.default.svc.cluster.local:2380", "example-abcde12345"),
        ("https://example-abcde12345.other.default.svc:2380", None),  # another cluster
        ("https://example-abcde12345.example.elsewhere.svc:2380", None),  # another namespace
        ("https://10.213.1.5:2380", None),
        ("example-abcde12345.example.default.svc:2380", None),  # no scheme
    ],
)
def test_pod_name_from_peer_url(url: str, pod: str | None) -> None:
    assert naming.pod_name_from_peer_url(url, "example", "default") == pod


def test_labels() -> None:
    assert naming.member_labels("example", "example-abcde12345") == {
        "app": "etcd",
        "etcd_cluster": "example",
        "etcd_node": "example-abcde12345",
    }
    assert naming.client_service_name("example") == "example-client"
