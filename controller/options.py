"""Command-line flags of `etcd-operator`, each with an ETCD_OPERATOR_* environment fallback.

A flag on the command line wins over its environment variable (`--leader-elect` ↔
ETCD_OPERATOR_LEADER_ELECT), which wins over the default. The namespace also falls back to
$MY_POD_NAMESPACE (the downward API), as in the CoreOS operator's Deployment.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from controller.runtime.leader import check_timings

LOG_FORMATS = ("json", "text")
ENV_PREFIX = "ETCD_OPERATOR_"
DEFAULT_OPERATOR_IMAGE = "localhost/etcd-operator:latest"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Options:
    namespace: str
    cluster_wide: bool
    controllers: tuple[str, ...]
    workers: int
    leader_elect: bool
    leader_election_id: str
    leader_election_namespace: str
    lease_duration: float
    renew_deadline: float
    retry_period: float
    metrics_bind_address: str
    health_probe_bind_address: str
    log_format: str
    log_level: str
    kubeconfig: str | None
    graceful_shutdown_timeout: float
    kube_api_qps: float
    kube_api_burst: int
    quorum_loss_grace_period: float
    node_lost_grace_period: float
    operator_image: str


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def parse_bool(value: str) -> bool:
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def build_parser(env: Mapping[str, str], controllers: Sequence[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="etcd-operator",
        description="Runs etcd clusters described by etcd.database.coreos.com/v1beta2 CRs.",
    )

    def add(flag: str, default: str | None, help: str | None, **kw: object) -> None:
        # The environment supplies the default; the command line overrides it.
        p.add_argument(
            flag,
            default=env.get(env_name(flag), default),
            help=argparse.SUPPRESS if help is None else f"{help} (env {env_name(flag)})",
            **kw,  # type: ignore[arg-type]
        )

    def add_bool(flag: str, help: str) -> None:
        default = parse_bool(env.get(env_name(flag), "false"))
        p.add_argument(
            flag,
            action=argparse.BooleanOptionalAction,
            default=default,
            help=f"{help} (env {env_name(flag)})",
        )

    add(
        "--namespace",
        env.get("MY_POD_NAMESPACE") or "default",
        "namespace to watch and of the leader lease (default $MY_POD_NAMESPACE, else default)",
    )
    add_bool(
        "--cluster-wide",
        "watch all namespaces; manage only CRs annotated "
        "etcd.database.coreos.com/scope: clusterwide",
    )
    add("--controllers", ",".join(controllers), f"comma list of {', '.join(controllers)}")
    add("--workers", "2", "concurrent reconciles per controller", type=int)
    add_bool("--leader-elect", "run reconcilers only while holding the leader lease")
    add(
        "--leader-election-id",
        None,
        "name of the leader election Lease (default etcd-operator, or etcd-operator-<controller>"
        " for a subset of the controllers, so separate Deployments do not share a Lease)",
    )
    add("--leader-election-namespace", None, "namespace of the Lease (default: --namespace)")
    add("--leader-election-lease-duration", "15", None, type=float)
    add("--leader-election-renew-deadline", "10", None, type=float)
    add("--leader-election-retry-period", "2", None, type=float)
    add("--metrics-bind-address", ":8080", 'address of /metrics ("0" disables)')
    add("--health-probe-bind-address", ":8081", 'address of /healthz and /readyz ("0" disables)')
    add("--log-format", "json", "json or text", choices=LOG_FORMATS)
    add("--log-level", "info", "debug, info, warning or error")
    add("--kubeconfig", None, "kubeconfig file (default: in-cluster config, else $KUBECONFIG)")
    add("--kube-api-qps", "20", "API requests/s, client-side (negative: no limit)", type=float)
    add("--kube-api-burst", "30", "API requests at once before the qps applies", type=int)
    add("--graceful-shutdown-timeout", "30", None, type=float)
    add(
        "--quorum-loss-grace-period",
        "120",
        "seconds a cluster that lost quorum for good waits before recovering from a survivor",
        type=float,
    )
    add(
        "--node-lost-grace-period",
        "120",
        "seconds a member pod's Node may be not Ready before the member is moved elsewhere",
        type=float,
    )
    add(
        "--operator-image",
        DEFAULT_OPERATOR_IMAGE,
        "this operator's image: a restore's seed pod runs it to fetch the backup",
    )
    return p


def default_lease_name(controllers: Sequence[str], known: Sequence[str]) -> str:
    """etcd-operator for every controller; etcd-operator-backup for --controllers backup."""
    if set(controllers) >= set(known):
        return "etcd-operator"
    return "-".join(["etcd-operator", *sorted(set(controllers))])


def parse_options(
    argv: Sequence[str] | None,
    env: Mapping[str, str] | None,
    known: Sequence[str],
) -> Options:
    """Parses argv (sys.argv[1:] when None) against env (os.environ when None); `known`
    names the controllers (controller.cmd's registry), all of them the default."""
    if env is None:
        import os

        env = os.environ
    parser = build_parser(env, known)
    a = parser.parse_args(argv)
    controllers = tuple(c.strip() for c in str(a.controllers).split(",") if c.strip())
    unknown = sorted(set(controllers) - set(known))
    if unknown:
        parser.error(f"--controllers: unknown {', '.join(unknown)} (know {', '.join(known)})")
    if a.log_format not in LOG_FORMATS:
        parser.error(f"--log-format must be one of {', '.join(LOG_FORMATS)}")
    lease, renew, retry = (
        float(a.leader_election_lease_duration),
        float(a.leader_election_renew_deadline),
        float(a.leader_election_retry_period),
    )
    try:
        check_timings(lease, renew, retry)
    except ValueError:
        parser.error("leader election needs lease duration > renew deadline > 1.2 * retry period")
    if int(a.workers) < 1:
        parser.error("--workers must be at least 1")
    if float(a.kube_api_qps) == 0:
        parser.error("--kube-api-qps must not be 0 (a negative value disables the limit)")
    if int(a.kube_api_burst) < 1:
        parser.error("--kube-api-burst must be at least 1")
    return Options(
        namespace=a.namespace,
        cluster_wide=bool(a.cluster_wide),
        controllers=controllers,
        workers=int(a.workers),
        leader_elect=bool(a.leader_elect),
        leader_election_id=a.leader_election_id or default_lease_name(controllers, known),
        leader_election_namespace=a.leader_election_namespace or a.namespace,
        lease_duration=lease,
        renew_deadline=renew,
        retry_period=retry,
        metrics_bind_address=a.metrics_bind_address,
        health_probe_bind_address=a.health_probe_bind_address,
        log_format=a.log_format,
        log_level=a.log_level,
        kubeconfig=a.kubeconfig,
        graceful_shutdown_timeout=float(a.graceful_shutdown_timeout),
        kube_api_qps=float(a.kube_api_qps),
        kube_api_burst=int(a.kube_api_burst),
        quorum_loss_grace_period=float(a.quorum_loss_grace_period),
        node_lost_grace_period=float(a.node_lost_grace_period),
        operator_image=a.operator_image,
    )
