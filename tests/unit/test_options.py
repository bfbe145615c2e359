"""Flags of etcd-operator, their environment fallbacks and bind addresses."""

from __future__ import annotations

import pytest

from controller.cmd import CONTROLLERS
from controller.options import env_name
from controller.options import parse_options as parse_with
from controller.runtime.health import parse_bind_address


def parse_options(argv: list[str], env: dict[str, str]):  # type: ignore[no-untyped-def]
    return parse_with(argv, env, tuple(CONTROLLERS))


def test_defaults() -> None:
    o = parse_options([], {})
    assert o.namespace == "default"
    assert not o.cluster_wide and not o.leader_elect
    assert o.controllers == tuple(CONTROLLERS)
    assert o.leader_election_id == "etcd-operator"
    assert o.leader_election_namespace == "default"
    assert (o.lease_duration, o.renew_deadline, o.retry_period) == (15.0, 10.0, 2.0)
    assert (o.metrics_bind_address, o.health_probe_bind_address) == (":8080", ":8081")
    assert (o.log_format, o.log_level, o.kubeconfig) == ("json", "info", None)
    assert (o.kube_api_qps, o.kube_api_burst) == (20.0, 30)  # controller-runtime's


@pytest.mark.parametrize(
    "controllers, lease",
    [
        ("cluster,backup,restore", "etcd-operator"),
        ("restore,cluster,backup", "etcd-operator"),
        ("cluster", "etcd-operator-cluster"),
        ("backup", "etcd-operator-backup"),
        ("restore", "etcd-operator-restore"),
        ("restore,backup", "etcd-operator-backup-restore"),
    ],
)
def test_each_subset_of_controllers_elects_on_a_lease_of_its_own(
    controllers: str, lease: str
) -> None:
    """The seed's three Deployments (one image, --controllers cluster / backup / restore)
    each elect a leader among their own replicas, not one leader for all three."""
    assert parse_options(["--controllers", controllers], {}).leader_election_id == lease
    named = parse_options(["--controllers", "backup", "--leader-election-id", "mine"], {})
    assert named.leader_election_id == "mine"


def test_operator_image_names_the_restore_fetch_image() -> None:
    assert parse_options([], {}).operator_image == "localhost/etcd-operator:latest"
    env = {"ETCD_OPERATOR_OPERATOR_IMAGE": "registry.example/etcd-operator:v1"}
    assert parse_options([], env).operator_image == "registry.example/etcd-operator:v1"


def test_pod_namespace_then_operator_env_then_flag() -> None:
    assert parse_options([], {"MY_POD_NAMESPACE": "ops"}).namespace == "ops"
    env = {"MY_POD_NAMESPACE": "ops", "ETCD_OPERATOR_NAMESPACE": "etcd"}
    assert parse_options([], env).namespace == "etcd"
    assert parse_options(["--namespace", "cli"], env).namespace == "cli"


def test_lease_namespace_follows_namespace_unless_set() -> None:
    assert parse_options(["--namespace", "a"], {}).leader_election_namespace == "a"
    o = parse_options(["--namespace", "a", "--leader-election-namespace", "b"], {})
    assert o.leader_election_namespace == "b"


def test_boolean_env_and_negating_flag() -> None:
    env = {"ETCD_OPERATOR_CLUSTER_WIDE": "true", "ETCD_OPERATOR_LEADER_ELECT": "1"}
    o = parse_options([], env)
    assert o.cluster_wide and o.leader_elect
    assert not parse_options(["--no-leader-elect"], env).leader_elect


def test_controllers_list() -> None:
    assert parse_options(["--controllers", "backup, cluster"], {}).controllers == (
        "backup",
        "cluster",
    )
    assert parse_options([], {"ETCD_OPERATOR_CONTROLLERS": "restore"}).controllers == ("restore",)


@pytest.mark.parametrize(
    "argv",
    [
        ["--controllers", "cluster,nope"],
        ["--log-format", "xml"],
        ["--leader-election-renew-deadline", "20"],  # longer than the lease
        ["--leader-election-retry-period", "9"],  # no room to retry before the deadline
        ["--workers", "0"],
        ["--kube-api-qps", "0"],  # ambiguous: negative disables the limit
        ["--kube-api-burst", "0"],
    ],
)
def test_invalid(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_options(argv, {})


def test_hidden_lease_timings() -> None:
    env = {
        "ETCD_OPERATOR_LEADER_ELECTION_LEASE_DURATION": "4",
        "ETCD_OPERATOR_LEADER_ELECTION_RENEW_DEADLINE": "3",
        "ETCD_OPERATOR_LEADER_ELECTION_RETRY_PERIOD": "0.5",
    }
    o = parse_options([], env)
    assert (o.lease_duration, o.renew_deadline, o.retry_period) == (4.0, 3.0, 0.5)


def test_api_client_limits_from_env_then_flag() -> None:
    env = {"ETCD_OPERATOR_KUBE_API_QPS": "50", "ETCD_OPERATOR_KUBE_API_BURST": "80"}
    o = parse_options([], env)
    assert (o.kube_api_qps, o.kube_api_burst) == (50.0, 80)
    o = parse_options(["--kube-api-qps", "-1", "--kube-api-burst", "5"], env)
    assert (o.kube_api_qps, o.kube_api_burst) == (-1.0, 5)


def test_env_names() -> None:
    assert env_name("--metrics-bind-address") == "ETCD_OPERATOR_METRICS_BIND_ADDRESS"


def test_bind_addresses() -> None:
    assert parse_bind_address(":8080") == (None, 8080)
    assert parse_bind_address("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_bind_address("[::1]:9000") == ("::1", 9000)
    assert parse_bind_address("0") is None
    with pytest.raises(ValueError):
        parse_bind_address("localhost")
