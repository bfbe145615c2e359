"""Pure builders of a cluster's Kubernetes objects: member Pods, their PVCs, the two Services.

Shapes follow the CoreOS operator (pkg/util/k8sutil) so its manifests and tooling keep working:
the same names, labels, annotation, hostname/subdomain, DNS-waiting init container, etcd flags
and TLS mount paths. Differences on purpose: restartPolicy Always (a member restarts on its
own data instead of being lost) and httpGet probes on the metrics port (no client cert needed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from api import API_VERSION, EtcdCluster
from controller.etcdcluster import naming

Obj = dict[str, Any]
InitialClusterState = Literal["new", "existing"]

DATA_VOLUME = "etcd-data"
DATA_MOUNT = "/var/etcd"
DATA_DIR = f"{DATA_MOUNT}/data"
PEER_TLS_VOLUME = "member-peer-tls"
SERVER_TLS_VOLUME = "member-server-tls"
PEER_TLS_DIR = "/etc/etcdtls/member/peer-tls"
SERVER_TLS_DIR = "/etc/etcdtls/member/server-tls"
ETCD_CONTAINER = "etcd"
DNS_CONTAINER = "check-dns"
TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
# A restore's seed pod: the backup goes through a scratch emptyDir (gone with the pod) into
# the member's data dir on its fresh volume.
FETCH_CONTAINER = "fetch-backup"
RESTORE_CONTAINER = "restore-snapshot"
SCRATCH_VOLUME = "restore-scratch"
SCRATCH_DIR = "/var/etcd-restore"
SNAPSHOT_FILE = f"{SCRATCH_DIR}/snapshot.db"
AWS_VOLUME = "restore-aws"
AWS_DIR = "/etc/etcd-operator/aws"


@dataclass(frozen=True)
class BackupSource:
    """A backup object on S3 and how to reach it (an EtcdRestore's spec.s3)."""

    path: str  # "<bucket>/<key>"
    endpoint: str | None = None
    force_path_style: bool = False
    aws_secret: str | None = None  # Secret with the AWS shared files credentials and config

    @property
    def url(self) -> str:
        return f"s3://{self.path}"


def owner_reference(cluster: EtcdCluster) -> Obj:
    """Controller reference to the cluster: deleting it garbage-collects what it owns."""
    return {
        "apiVersion": API_VERSION,
        "kind": "EtcdCluster",
        "name": cluster.name,
        "uid": cluster.metadata.uid or "",
        "controller": True,
    }


def _meta(cluster: EtcdCluster, name: str, labels: dict[str, str]) -> Obj:
    return {
        "name": name,
        "namespace": cluster.namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(cluster)],
    }


def headless_service(cluster: EtcdCluster) -> Obj:
    """`<cluster>`: the members' DNS names, published before they are ready (peers need them)."""
    meta = _meta(cluster, cluster.name, naming.cluster_labels(cluster.name))
    meta["annotations"] = {TOLERATE_UNREADY: "true"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": naming.cluster_labels(cluster.name),
            "ports": [
                _port("client", naming.CLIENT_PORT),
                _port("peer", naming.PEER_PORT),
            ],
        },
    }


def client_service(cluster: EtcdCluster) -> Obj:
    """`<cluster>-client`: what clients use; only ready members are behind it."""
    name = naming.client_service_name(cluster.name)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(cluster, name, naming.cluster_labels(cluster.name)),
        "spec": {
            "type": "ClusterIP",
            "selector": naming.cluster_labels(cluster.name),
            "ports": [_port("client", naming.CLIENT_PORT)],
        },
    }


def disruption_budget(cluster: EtcdCluster, min_available: int) -> Obj:
    """`<cluster>`: a drain evicts a member only while a majority stays (quorum holds)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(cluster, cluster.name, naming.cluster_labels(cluster.name)),
        "spec": {
            "minAvailable": min_available,
            "selector": {"matchLabels": naming.cluster_labels(cluster.name)},
        },
    }


def _port(name: str, port: int) -> Obj:
    return {"name": name, "port": port, "targetPort": port, "protocol": "TCP"}


def member_pvc(cluster: EtcdCluster, pod: str) -> Obj:
    """The member's data volume claim, named like its pod (only with persistentVolumeClaimSpec)."""
    template = cluster.spec.pod.persistent_volume_claim_spec
    assert template is not None, "member_pvc needs spec.pod.persistentVolumeClaimSpec"
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(cluster, pod, naming.member_labels(cluster.name, pod)),
        "spec": _wire(template),
    }


def initial_cluster_flag(members: Sequence[tuple[str, str]]) -> str:
    """`name=peerURL,...` for --initial-cluster."""
    return ",".join(f"{name}={url}" for name, url in members)


def etcd_command(
    cluster: EtcdCluster,
    pod: str,
    initial_cluster: Sequence[tuple[str, str]],
    state: InitialClusterState,
    force_new_cluster: bool = False,
) -> list[str]:
    spec = cluster.spec
    ns, domain = cluster.namespace, spec.pod.cluster_domain
    peer_scheme = naming.scheme(spec.is_secure_peer)
    client_scheme = naming.scheme(spec.is_secure_client)
    cmd = [
        "/usr/local/bin/etcd",
        f"--data-dir={DATA_DIR}",
        f"--name={pod}",
        f"--initial-advertise-peer-urls={naming.member_peer_url(cluster, pod)}",
        f"--listen-peer-urls={peer_scheme}://0.0.0.0:{naming.PEER_PORT}",
        f"--listen-client-urls={client_scheme}://0.0.0.0:{naming.CLIENT_PORT}",
        "--advertise-client-urls="
        + naming.client_url(pod, cluster.name, ns, domain, spec.is_secure_client),
        f"--listen-metrics-urls=http://0.0.0.0:{naming.METRICS_PORT}",
        f"--initial-cluster={initial_cluster_flag(initial_cluster)}",
        f"--initial-cluster-state={state}",
        f"--initial-cluster-token={cluster_token(cluster)}",
    ]
    if force_new_cluster:
        # Drops every other member from the membership this data dir holds: the survivor
        # of a quorum loss becomes a one-member cluster with all its data.
        cmd.append("--force-new-cluster")
    if spec.is_secure_peer:
        cmd += [
            "--peer-client-cert-auth=true",
            f"--peer-trusted-ca-file={PEER_TLS_DIR}/peer-ca.crt",
            f"--peer-cert-file={PEER_TLS_DIR}/peer.crt",
            f"--peer-key-file={PEER_TLS_DIR}/peer.key",
        ]
    if spec.is_secure_client:
        cmd += [
            "--client-cert-auth=true",
            f"--trusted-ca-file={SERVER_TLS_DIR}/server-ca.crt",
            f"--cert-file={SERVER_TLS_DIR}/server.crt",
            f"--key-file={SERVER_TLS_DIR}/server.key",
        ]
    return cmd


def cluster_token(cluster: EtcdCluster) -> str:
    return cluster.metadata.uid or cluster.name


def dns_wait_script(host: str, timeout_seconds: int) -> str:
    """CoreOS's init script: wait until the member's own DNS name resolves (0: forever)."""
    return (
        f"TIMEOUT_READY={timeout_seconds}\n"
        f"while ( ! nslookup {host} )\n"
        "do\n"
        "  # TIMEOUT_READY 0 goes negative and never reaches 0 again: wait indefinitely\n"
        "  TIMEOUT_READY=$(( TIMEOUT_READY-1 ))\n"
        "  if [ $TIMEOUT_READY -eq 0 ]; then\n"
        '    echo "Timed out waiting for DNS entry"\n'
        "    exit 1\n"
        "  fi\n"
        "  sleep 1\n"
        "done\n"
    )


def member_pod(
    cluster: EtcdCluster,
    pod: str,
    initial_cluster: Sequence[tuple[str, str]],
    state: InitialClusterState,
    force_new_cluster: bool = False,
    trust: str = "",
) -> Obj:
    """A member pod. `initial_cluster` lists (name, peer URL) of every member, this one too;
    annotated with the template hash of the spec and the CAs it trusts (what rolling
    compares)."""
    built = _member_pod(cluster, pod, initial_cluster, state, force_new_cluster)
    annotations = built["metadata"]["annotations"]
    annotations[naming.TEMPLATE_HASH_ANNOTATION] = template_hash(cluster, trust)
    return built


def restore_seed_pod(
    cluster: EtcdCluster, pod: str, source: BackupSource, operator_image: str, trust: str = ""
) -> Obj:
    """A restore's seed member: alone in its --initial-cluster, with two more init containers.
    The operator's image fetches the backup into a scratch emptyDir, verifying its SHA-256
    trailer (controller.etcdrestore.fetch); the cluster's etcd image restores it with
    `etcdutl snapshot restore` (the etcd version's own tool) into the data dir, which must be
    new: the planner gives every seed pod a fresh volume. etcd then starts on that data."""
    url = naming.member_peer_url(cluster, pod)
    built = member_pod(cluster, pod, ((pod, url),), "new", trust=trust)
    built["metadata"]["annotations"][naming.RESTORE_SEED_ANNOTATION] = "true"
    spec = built["spec"]
    scratch: Obj = {"name": SCRATCH_VOLUME, "mountPath": SCRATCH_DIR}
    fetch_mounts: list[Obj] = [scratch]
    spec["volumes"].append({"name": SCRATCH_VOLUME, "emptyDir": {}})
    fetch = ["python", "-m", "controller.etcdrestore.fetch", "--path", source.path]
    fetch += ["--out", SNAPSHOT_FILE]
    if source.endpoint:
        fetch += ["--endpoint", source.endpoint]
    if source.force_path_style:
        fetch.append("--force-path-style")
    if source.aws_secret:
        fetch += ["--aws-dir", AWS_DIR]
        fetch_mounts.append({"name": AWS_VOLUME, "mountPath": AWS_DIR, "readOnly": True})
        spec["volumes"].append(_secret_volume(AWS_VOLUME, source.aws_secret))
    restore = [
        "/usr/local/bin/etcdutl",
        "snapshot",
        "restore",
        SNAPSHOT_FILE,
        f"--name={pod}",
        f"--initial-cluster={initial_cluster_flag([(pod, url)])}",
        f"--initial-cluster-token={cluster_token(cluster)}",
        f"--initial-advertise-peer-urls={url}",
        f"--data-dir={DATA_DIR}",
    ]
    spec["initContainers"] += [
        {
            "name": FETCH_CONTAINER,
            "image": operator_image,
            "command": fetch,
            "volumeMounts": fetch_mounts,
            # Why a fetch or a restore fails (its last lines) reaches the container status,
            # so the cluster's Degraded condition and the EtcdRestore can say it.
            "terminationMessagePolicy": "FallbackToLogsOnError",
        },
        {
            "name": RESTORE_CONTAINER,
            "image": cluster.spec.image,
            "command": restore,
            "volumeMounts": [{"name": DATA_VOLUME, "mountPath": DATA_MOUNT}, scratch],
            "terminationMessagePolicy": "FallbackToLogsOnError",
        },
    ]
    return built


def _member_pod(
    cluster: EtcdCluster,
    pod: str,
    initial_cluster: Sequence[tuple[str, str]],
    state: InitialClusterState,
    force_new_cluster: bool,
) -> Obj:
    spec, policy = cluster.spec, cluster.spec.pod
    host = naming.member_host(pod, cluster.name, cluster.namespace, policy.cluster_domain)
    meta = _meta(cluster, pod, {**policy.labels, **naming.member_labels(cluster.name, pod)})
    meta["annotations"] = {**policy.annotations, naming.VERSION_ANNOTATION: spec.etcd_version}
    if force_new_cluster:
        meta["annotations"][naming.FORCE_NEW_CLUSTER_ANNOTATION] = "true"
    mounts = [{"name": DATA_VOLUME, "mountPath": DATA_MOUNT}]
    volumes: list[Obj] = [_data_volume(cluster, pod)]
    static = spec.static_tls
    if spec.is_secure_peer and static.member and static.member.peer_secret:
        mounts.append({"name": PEER_TLS_VOLUME, "mountPath": PEER_TLS_DIR})
        volumes.append(_secret_volume(PEER_TLS_VOLUME, static.member.peer_secret))
    if spec.is_secure_client and static.member and static.member.server_secret:
        mounts.append({"name": SERVER_TLS_VOLUME, "mountPath": SERVER_TLS_DIR})
        volumes.append(_secret_volume(SERVER_TLS_VOLUME, static.member.server_secret))
    etcd: Obj = {
        "name": ETCD_CONTAINER,
        "image": spec.image,
        "command": etcd_command(cluster, pod, initial_cluster, state, force_new_cluster),
        "ports": [
            {"name": "client", "containerPort": naming.CLIENT_PORT, "protocol": "TCP"},
            {"name": "peer", "containerPort": naming.PEER_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": naming.METRICS_PORT, "protocol": "TCP"},
        ],
        "volumeMounts": mounts,
        # /readyz fails for a learner and without quorum: only voting, serving members are
        # behind the client Service. /livez stays up through both.
        "readinessProbe": _http_probe("/readyz", initial_delay=1, period=5, failures=3),
        "livenessProbe": _http_probe("/livez", initial_delay=10, period=60, failures=3),
    }
    if policy.etcd_env:
        etcd["env"] = [_wire(e) for e in policy.etcd_env]
    resources = _wire(policy.resources)
    if resources:
        etcd["resources"] = resources
    pod_spec: Obj = {
        "hostname": pod,
        "subdomain": cluster.name,
        "restartPolicy": "Always",
        "automountServiceAccountToken": False,
        "initContainers": [
            {
                "name": DNS_CONTAINER,
                "image": policy.busybox_image,
                "command": ["/bin/sh", "-c", dns_wait_script(host, policy.dns_timeout_in_second)],
            }
        ],
        "containers": [etcd],
        "volumes": volumes,
    }
    if policy.node_selector:
        pod_spec["nodeSelector"] = dict(policy.node_selector)
    if policy.tolerations:
        pod_spec["tolerations"] = [_wire(t) for t in policy.tolerations]
    affinity = _affinity(cluster)
    if affinity:
        pod_spec["affinity"] = affinity
    if policy.security_context is not None:
        pod_spec["securityContext"] = _wire(policy.security_context)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}


def template_hash(cluster: EtcdCluster, trust: str = "") -> str:
    """A digest of everything a member pod takes from the spec (version, image, pod policy,
    TLS Secrets) and nothing it takes from the member (name, peers, flags), plus `trust`,
    the digest of the CA certificates its Secrets hold (etcd reads CAs only at start, while
    it reloads certificates at every handshake): a member pod whose annotation differs was
    made from another spec or CA and is rolled."""
    template = _member_pod(cluster, "member", (), "existing", force_new_cluster=False)
    text = json.dumps(template, sort_keys=True, separators=(",", ":")) + trust
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _data_volume(cluster: EtcdCluster, pod: str) -> Obj:
    if cluster.spec.pod.persistent_volume_claim_spec is not None:
        return {"name": DATA_VOLUME, "persistentVolumeClaim": {"claimName": pod}}
    return {"name": DATA_VOLUME, "emptyDir": {}}


def _secret_volume(name: str, secret: str) -> Obj:
    return {"name": name, "secret": {"secretName": secret}}


def _http_probe(path: str, *, initial_delay: int, period: int, failures: int) -> Obj:
    return {
        "httpGet": {"path": path, "port": naming.METRICS_PORT, "scheme": "HTTP"},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": 10,
        "failureThreshold": failures,
    }


def _affinity(cluster: EtcdCluster) -> Obj | None:
    """spec.pod.affinity, else CoreOS's deprecated antiAffinity: one member per node."""
    policy = cluster.spec.pod
    if policy.affinity is not None:
        return _wire(policy.affinity) or None
    if not policy.anti_affinity:
        return None
    term = {
        "labelSelector": {"matchLabels": {naming.CLUSTER_LABEL: cluster.name}},
        "topologyKey": "kubernetes.io/hostname",
    }
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def _wire(model: BaseModel) -> Obj:
    """An embedded Kubernetes type as the API spells it, without empty fields."""
    pruned = _prune(model.model_dump(mode="json", by_alias=True, exclude_none=True))
    return pruned if isinstance(pruned, dict) else {}


def _prune(value: Any) -> Any:
    """Drops empty dicts and lists at every depth (defaults the user did not write)."""
    if isinstance(value, dict):
        kept = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def data_claim_name(pod: Obj) -> str | None:
    """The PVC a member pod's data volume uses, or None for an emptyDir."""
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if volume.get("name") == DATA_VOLUME:
            claim = volume.get("persistentVolumeClaim") or {}
            return claim.get("claimName") or None
    return None
