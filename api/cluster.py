"""EtcdCluster: the desired etcd cluster (spec) and what the operator observed (status).

Fields and wire names follow CoreOS's pkg/apis/etcd/v1beta2 (cluster.go, cluster_tls.go,
status.go), including its spellings `TLS`, `DNSTimeoutInSecond` and `ClusterDomain`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from api import defaults
from api.conditions import Condition, conditions_field
from api.core import (
    Affinity,
    EnvVar,
    PersistentVolumeClaimSpec,
    PodSecurityContext,
    ResourceRequirements,
    Toleration,
)
from api.meta import CrossFieldRule, KubeObject, ResourceNames, Timestamp, WireModel, wire_name
from api.operation import Operation

# Semantic version as etcd tags its releases; CoreOS accepts (and strips) a leading "v".
VERSION_PATTERN = r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$"
# Appended to `<pod>.<cluster>.<ns>.svc`, so it starts with a dot (".cluster.local") or is empty.
CLUSTER_DOMAIN_PATTERN = r"^(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$"
# Pod labels the operator uses to find its members; CoreOS rejects them in spec.pod.labels.
RESERVED_LABEL = "app"
RESERVED_LABEL_PREFIX = "etcd_"


def _no_reserved_labels(pod: PodPolicy) -> bool:
    return all(k != RESERVED_LABEL and not k.startswith(RESERVED_LABEL_PREFIX) for k in pod.labels)


class PodPolicy(WireModel):
    """How the operator creates etcd member pods. Changes apply to pods created afterwards."""

    cross_field_rules = (
        CrossFieldRule(
            cel="!has(self.labels) || self.labels.all(k, k != 'app' && !k.startsWith('etcd_'))",
            message="spec.pod.labels must not use the operator's reserved keys 'app' and 'etcd_*'",
            check=_no_reserved_labels,
            field_path=".labels",
        ),
    )

    labels: dict[str, str] = Field(default_factory=dict)
    """Labels for member pods; "app" and "etcd_*" are reserved for the operator."""
    node_selector: dict[str, str] = Field(default_factory=dict)
    """Node labels a member pod's node must have."""
    affinity: Affinity | None = None
    """Scheduling constraints of member pods."""
    anti_affinity: bool = False
    """DEPRECATED, use affinity: spread members over nodes (when affinity is unset)."""
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    """Compute resources of the etcd container; fixed once the cluster is created."""
    tolerations: list[Toleration] = Field(default_factory=list)
    """Tolerations of member pods."""
    etcd_env: list[EnvVar] = Field(default_factory=list)
    """Environment of the etcd container (ETCD_* flags); must not override bootstrap flags."""
    persistent_volume_claim_spec: PersistentVolumeClaimSpec | None = None
    """Claim for each member's data volume; unset means an emptyDir."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations for member pods; "etcd.version" is reserved for the operator."""
    busybox_image: str = defaults.DEFAULT_BUSYBOX_IMAGE
    """Image of the init container that waits for the member's DNS record."""
    security_context: PodSecurityContext | None = None
    """Security context of the whole member pod."""
    dns_timeout_in_second: int = wire_name(
        "DNSTimeoutInSecond", default=defaults.DEFAULT_DNS_TIMEOUT_IN_SECOND, ge=0
    )
    """How long the init container waits for its DNS record; 0 waits indefinitely."""
    cluster_domain: str = wire_name(
        "ClusterDomain", default=defaults.DEFAULT_CLUSTER_DOMAIN, pattern=CLUSTER_DOMAIN_PATTERN
    )
    """Suffix of member URLs after `.svc`, e.g. ".cluster.local"; empty by default."""


class MemberSecret(WireModel):
    """Secrets with each member's TLS material."""

    peer_secret: str | None = None
    """Secret with peer.crt, peer.key, peer-ca.crt for member-to-member traffic."""
    server_secret: str | None = None
    """Secret with server.crt, server.key, server-ca.crt for client traffic."""


def _operator_and_server_secret_together(static: StaticTLS) -> bool:
    server = bool(static.member and static.member.server_secret)
    return bool(static.operator_secret) == server


class StaticTLS(WireModel):
    """TLS from certificates the user created and stored in Secrets."""

    cross_field_rules = (
        CrossFieldRule(
            cel="(has(self.operatorSecret) && self.operatorSecret != '') =="
            " (has(self.member) && has(self.member.serverSecret)"
            " && self.member.serverSecret != '')",
            message="spec.TLS.static.operatorSecret and spec.TLS.static.member.serverSecret"
            " must be set together",
            check=_operator_and_server_secret_together,
        ),
    )

    member: MemberSecret | None = None
    """Secrets used by each member pod."""
    operator_secret: str | None = None
    """Secret with etcd-client.crt, etcd-client.key, etcd-client-ca.crt for the operator."""


class TLSPolicy(WireModel):
    """TLS configuration of the cluster."""

    static: StaticTLS | None = None
    """Certificates the user generated and put into Secrets."""


# spec.maintenance's defaults (ours, not CoreOS's). Defragmenting a small database frees
# little and still blocks its member for the time it takes: below 64 MiB it is not worth it.
# The fields stay empty when unset (the CRD defaults nothing): the properties apply these.
DEFAULT_FRAGMENTATION_THRESHOLD_PERCENT = 50
DEFAULT_MIN_DB_SIZE_BYTES = 64 * 1024 * 1024
DEFAULT_MAINTENANCE_INTERVAL_IN_SECOND = 3600


class MaintenancePolicy(WireModel):
    """Automatic defragmentation and NOSPACE recovery (ours, not CoreOS's). Without
    spec.maintenance the operator never defragments, compacts or disarms an alarm.

    Members are defragmented one at a time, the leader last, and only while every member is
    healthy: a member being defragmented serves nothing until it is done."""

    fragmentation_threshold_percent: int | None = Field(default=None, ge=0, le=100)
    """Defragment a member when at least this percentage of its database file is free (dbSize
    not in use); 50 when unset; 0 turns periodic defragmentation off (NOSPACE recovery still
    defragments)."""
    min_db_size_bytes: int | None = Field(default=None, ge=0)
    """Members whose database file is smaller than this many bytes are never defragmented
    for fragmentation alone; 67108864 (64 MiB) when unset."""
    min_interval_in_second: int | None = Field(default=None, ge=0)
    """Seconds from the end of one defragmentation round of the cluster (every member that
    passed the threshold) to the start of the next; 3600 when unset. NOSPACE recovery does
    not wait for it."""
    clear_no_space: bool | None = None
    """Clear a NOSPACE alarm (true when unset): defragment the members, compacting the key
    history to the current revision first when defragmentation alone cannot make room, then
    disarm the alarm once every member's database file is at most 90% of its quota.
    Compaction drops the history of every key: watchers of older revisions start over."""

    @property
    def threshold_percent(self) -> int:
        value = self.fragmentation_threshold_percent
        return DEFAULT_FRAGMENTATION_THRESHOLD_PERCENT if value is None else value

    @property
    def min_db_size(self) -> int:
        value = self.min_db_size_bytes
        return DEFAULT_MIN_DB_SIZE_BYTES if value is None else value

    @property
    def min_interval(self) -> int:
        value = self.min_interval_in_second
        return DEFAULT_MAINTENANCE_INTERVAL_IN_SECOND if value is None else value

    @property
    def clears_no_space(self) -> bool:
        return self.clear_no_space is not False


class ClusterSpec(WireModel):
    """The etcd cluster the user wants."""

    size: int = Field(ge=defaults.MIN_CLUSTER_SIZE, le=defaults.MAX_CLUSTER_SIZE)
    """Number of members, 1 to 7; the operator converges the running cluster to it."""
    repository: str = defaults.DEFAULT_REPOSITORY
    """Image repository with etcd's release tags; the image is `<repository>:v<version>`."""
    version: str = Field(default=defaults.DEFAULT_ETCD_VERSION, pattern=VERSION_PATTERN)
    """etcd version (semver, a leading "v" is ignored); the operator upgrades towards it."""
    paused: bool = False
    """Stops the operator from changing this cluster."""
    pod: PodPolicy = Field(default_factory=PodPolicy)
    """How member pods are created; changes do not affect existing pods."""
    tls: TLSPolicy | None = wire_name("TLS", default=None)
    """TLS for peer, server and operator traffic."""
    maintenance: MaintenancePolicy | None = None
    """Defragmentation and NOSPACE recovery; unset, the operator does neither."""

    @property
    def etcd_version(self) -> str:
        """The version without CoreOS's optional leading "v", e.g. "3.6.16"."""
        return self.version.lstrip("v")

    @property
    def image(self) -> str:
        """The etcd image, resolved by tag as CoreOS does."""
        return f"{self.repository}:v{self.etcd_version}"

    @property
    def static_tls(self) -> StaticTLS:
        return (self.tls.static if self.tls else None) or StaticTLS()

    @property
    def is_secure_peer(self) -> bool:
        return bool(self.static_tls.member and self.static_tls.member.peer_secret)

    @property
    def is_secure_client(self) -> bool:
        return bool(self.static_tls.operator_secret)


class ClusterPhase(StrEnum):
    """Where the cluster is in its life; the conditions say why.

    NONE: not yet seen by the operator. CREATING: bootstrapping, until the cluster first reaches
    its size. RUNNING: all members ready at the desired size and version. SCALING: adding or
    removing members towards spec.size. UPGRADING: replacing members one at a time towards
    spec.version. DEGRADED: after it ran, a member is missing, unhealthy or cannot start, or
    quorum is lost (the Degraded condition says which); the operator heals what it can.
    RECOVERING: recovering from quorum loss, or restoring from a backup, through a recorded
    operation. FAILED: the operator cannot make progress without the user (reason says why).
    """

    NONE = ""
    CREATING = "Creating"
    RUNNING = "Running"
    SCALING = "Scaling"
    UPGRADING = "Upgrading"
    DEGRADED = "Degraded"
    RECOVERING = "Recovering"
    FAILED = "Failed"


class ClusterConditionType(StrEnum):
    """Available: a leader serves. Progressing: the operator is changing the cluster (reason
    ScalingUp, ScalingDown, MemberPromoting, Recovering, Restoring, Upgrading, Rolling).
    Degraded: something is wrong that the operator is working around or cannot fix (reason
    MemberUnhealthy, MemberPodMissing, MemberCannotStart, QuorumLost, NoSpace)."""

    AVAILABLE = "Available"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"


class MembersStatus(WireModel):
    """Members by readiness; names are the member pods' names."""

    ready: list[str] = Field(default_factory=list)
    """Members ready to serve requests."""
    unready: list[str] = Field(default_factory=list)
    """Members not ready to serve requests."""


class RestoredFrom(WireModel):
    """The backup the cluster's members were last seeded from (ours, not CoreOS's)."""

    source: str
    """The backup object, e.g. s3://bucket/key."""
    restore_name: str | None = None
    """The EtcdRestore that asked for it; empty for a quorum-loss recovery from a backup."""
    restore_uid: str | None = None
    """metadata.uid of that EtcdRestore: a later EtcdRestore of the same name restores again."""
    completed_at: Timestamp | None = None
    """When the seed member served from the restored data."""


class ClusterStatus(WireModel):
    """What the operator observed and is doing."""

    phase: ClusterPhase = ClusterPhase.NONE
    """Creating, Running, Scaling, Upgrading, Degraded, Recovering or Failed."""
    reason: str | None = None
    """Why the cluster is in this phase, e.g. why it Failed."""
    control_paused: bool = False
    """The operator is not managing the cluster (spec.paused)."""
    conditions: list[Condition] = conditions_field()
    """Current conditions; at most one per type."""
    size: int = 0
    """Current number of members."""
    service_name: str | None = None
    """Service clients use to reach the members."""
    client_port: int | None = None
    """Client port, the same on the Service and on the members."""
    members: MembersStatus = Field(default_factory=MembersStatus)
    """Members by readiness."""
    ready_members: int = 0
    """Number of ready members (ours, not CoreOS's: the READY column of `kubectl get etcd`)."""
    current_version: str | None = None
    """Version every member runs."""
    target_version: str | None = None
    """Version the cluster is upgrading to; empty when not upgrading."""
    observed_generation: int | None = None
    """metadata.generation of the spec this status describes."""
    operation: Operation | None = None
    """The multi-step operation in progress, recorded before its first destructive step."""
    restored_from: RestoredFrom | None = None
    """The backup the members were last seeded from, by an EtcdRestore or a recovery."""

    def set_members(self, ready: list[str], unready: list[str]) -> None:
        """Records member readiness, keeping readyMembers equal to len(members.ready)."""
        self.members = MembersStatus(ready=sorted(ready), unready=sorted(unready))
        self.ready_members = len(ready)


def _name_fits(cluster: EtcdCluster) -> bool:
    return len(cluster.metadata.name or "") <= defaults.MAX_CLUSTER_NAME_LENGTH


class EtcdCluster(KubeObject):
    """An etcd cluster run by the operator."""

    names: ClassVar[ResourceNames] = ResourceNames(
        kind="EtcdCluster", plural="etcdclusters", singular="etcdcluster", short_names=("etcd",)
    )
    cross_field_rules = (
        CrossFieldRule(
            cel=f"self.metadata.name.size() <= {defaults.MAX_CLUSTER_NAME_LENGTH}",
            message=f"metadata.name must be at most {defaults.MAX_CLUSTER_NAME_LENGTH}"
            " characters (member pod names add an 11-character suffix)",
            check=_name_fits,
            field_path=".metadata.name",
        ),
    )

    kind: str = "EtcdCluster"
    spec: ClusterSpec
    status: ClusterStatus = Field(default_factory=ClusterStatus)
