"""Names, labels and URLs of a cluster's objects, as the CoreOS operator spelled them.

Member pods are `<cluster>-<10 random [a-z0-9]>`; a member's PVC has its pod's name; the
headless Service is `<cluster>` and the client Service `<cluster>-client`. A member's peer URL
`http(s)://<pod>.<cluster>.<ns>.svc<ClusterDomain>:2380` carries its pod name, which is how a
member etcd knows (even one not yet started) is matched to its pod.
"""

from __future__ import annotations

import hashlib
import secrets
import string

from api import EtcdCluster
from controller.common.ownership import CLUSTER_LABEL  # the label the cache selects on

CLIENT_PORT = 2379
PEER_PORT = 2380
METRICS_PORT = 2381
SUFFIX_LENGTH = 10
SUFFIX_ALPHABET = string.ascii_lowercase + string.digits

APP_LABEL = "app"
APP_VALUE = "etcd"
NODE_LABEL = "etcd_node"
VERSION_ANNOTATION = "etcd.version"
# The digest of the spec a member pod was made from (rolling compares it with the spec's).
TEMPLATE_HASH_ANNOTATION = "etcd.database.coreos.com/template-hash"
# On a pod started with --force-new-cluster (quorum-loss recovery), so the planner can tell.
FORCE_NEW_CLUSTER_ANNOTATION = "etcd.database.coreos.com/force-new-cluster"
# On a seed pod that restores a backup in its init containers (restore), so the planner can
# tell it from the same member's ordinary pod.
RESTORE_SEED_ANNOTATION = "etcd.database.coreos.com/restore-seed"


def new_member_name(cluster: str) -> str:
    suffix = "".join(secrets.choice(SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))
    return f"{cluster}-{suffix}"


def seed_member_name(cluster: EtcdCluster) -> str:
    """The first member's name: the same for every pass over the same cluster object (a
    hash of its uid), so bootstrapping twice creates one seed, not two separate clusters."""
    return _stable_member_name(
        cluster.name, cluster.metadata.uid or f"{cluster.namespace}/{cluster.name}"
    )


def restore_seed_name(cluster: str, restore_uid: str) -> str:
    """The member a restore seeds from its backup: a hash of the restore's uid, so every
    pass of one restore names the same seed, and another restore a different one."""
    return _stable_member_name(cluster, f"restore/{restore_uid}")


def _stable_member_name(cluster: str, identity: str) -> str:
    digest = hashlib.sha256(identity.encode()).digest()
    suffix = "".join(SUFFIX_ALPHABET[b % len(SUFFIX_ALPHABET)] for b in digest[:SUFFIX_LENGTH])
    return f"{cluster}-{suffix}"


def is_member_name(cluster: str, name: str) -> bool:
    prefix = f"{cluster}-"
    suffix = name[len(prefix) :]
    return (
        name.startswith(prefix)
        and len(suffix) == SUFFIX_LENGTH
        and all(c in SUFFIX_ALPHABET for c in suffix)
    )


def client_service_name(cluster: str) -> str:
    return f"{cluster}-client"


def cluster_labels(cluster: str) -> dict[str, str]:
    """Labels of every object of the cluster (the operator's cache selects on etcd_cluster)."""
    return {APP_LABEL: APP_VALUE, CLUSTER_LABEL: cluster}


def member_labels(cluster: str, pod: str) -> dict[str, str]:
    return {**cluster_labels(cluster), NODE_LABEL: pod}


def member_host(pod: str, cluster: str, namespace: str, cluster_domain: str = "") -> str:
    """The member's DNS name: hostname `<pod>` under the headless Service `<cluster>`."""
    return f"{pod}.{cluster}.{namespace}.svc{cluster_domain}"


def scheme(secure: bool) -> str:
    return "https" if secure else "http"


def peer_url(pod: str, cluster: str, namespace: str, cluster_domain: str, secure: bool) -> str:
    host = member_host(pod, cluster, namespace, cluster_domain)
    return f"{scheme(secure)}://{host}:{PEER_PORT}"


def member_peer_url(cluster: EtcdCluster, pod: str) -> str:
    """The peer URL of member `pod`: what it advertises and what MemberAdd registers."""
    spec = cluster.spec
    return peer_url(
        pod, cluster.name, cluster.namespace, spec.pod.cluster_domain, spec.is_secure_peer
    )


def client_url(pod: str, cluster: str, namespace: str, cluster_domain: str, secure: bool) -> str:
    host = member_host(pod, cluster, namespace, cluster_domain)
    return f"{scheme(secure)}://{host}:{CLIENT_PORT}"


def pod_name_from_peer_url(url: str, cluster: str, namespace: str) -> str | None:
    """The pod a member's peer URL names, or None when it is not one of this cluster's URLs."""
    _, sep, rest = url.partition("://")
    if not sep:
        return None
    host = rest.split("/", 1)[0].rsplit(":", 1)[0]
    pod, dot, domain = host.partition(".")
    if not dot or not domain.startswith(f"{cluster}.{namespace}.svc"):
        return None
    return pod if is_member_name(cluster, pod) else None
