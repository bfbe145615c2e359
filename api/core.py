"""Kubernetes core/v1 types embedded in the etcd API (resources, volumes, env, scheduling).

Each one validates, structurally, the parts users commonly get wrong (quantities, access modes,
env names, toleration operators) and keeps every other field as it came: the models allow
extra fields and the CRD marks these objects `x-kubernetes-preserve-unknown-fields`, so a field
added by a newer Kubernetes is neither rejected nor dropped.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import Field, StrictInt, StringConstraints, WithJsonSchema

from api.meta import WireModel

# resource.Quantity's canonical syntax, as Kubernetes publishes it in its OpenAPI.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

# An integer or a quantity string such as "1Gi" or "500m"; the CRD says int-or-string.
Quantity = Annotated[
    StrictInt | Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN)],
    WithJsonSchema({"x-kubernetes-int-or-string": True, "pattern": QUANTITY_PATTERN}),
]

# A free-form Kubernetes object kept whole (label selectors, seccomp profiles, ...).
PreservedObject = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]


class KubeType(WireModel):
    """An embedded Kubernetes type: listed fields are checked, the others are kept."""

    preserve_unknown_fields: ClassVar[bool] = True


class ResourceRequirements(KubeType):
    """Compute resources of the etcd container (core/v1 ResourceRequirements)."""

    limits: dict[str, Quantity] = Field(default_factory=dict)
    """Maximum amount of compute resources allowed, e.g. `memory: 2Gi`."""
    requests: dict[str, Quantity] = Field(default_factory=dict)
    """Minimum amount of compute resources required, e.g. `cpu: 500m`."""


class VolumeResourceRequirements(KubeType):
    """Storage size of a claim (core/v1 VolumeResourceRequirements)."""

    limits: dict[str, Quantity] = Field(default_factory=dict)
    requests: dict[str, Quantity] = Field(default_factory=dict)
    """Minimum storage the volume must offer, e.g. `storage: 1Gi`."""


class AccessMode(StrEnum):
    READ_WRITE_ONCE = "ReadWriteOnce"
    READ_ONLY_MANY = "ReadOnlyMany"
    READ_WRITE_MANY = "ReadWriteMany"
    READ_WRITE_ONCE_POD = "ReadWriteOncePod"


class VolumeMode(StrEnum):
    FILESYSTEM = "Filesystem"
    BLOCK = "Block"


class PersistentVolumeClaimSpec(KubeType):
    """The claim each etcd member's data volume is made from (core/v1 PersistentVolumeClaimSpec)."""

    access_modes: list[AccessMode] = Field(default_factory=list)
    """Access modes of the volume, e.g. [ReadWriteOnce]."""
    storage_class_name: str | None = None
    """StorageClass to provision the volume from; unset means the cluster's default class."""
    resources: VolumeResourceRequirements | None = None
    """Requested size, e.g. `requests: {storage: 1Gi}`."""
    volume_mode: VolumeMode | None = None
    volume_name: str | None = None
    selector: PreservedObject | None = None
    data_source: PreservedObject | None = None
    data_source_ref: PreservedObject | None = None
    volume_attributes_class_name: str | None = None


class KeySelector(KubeType):
    """Selects a key of a Secret or ConfigMap."""

    name: str | None = None
    key: str
    optional: bool | None = None


class ObjectFieldSelector(KubeType):
    """Selects a field of the pod, e.g. `metadata.name`."""

    api_version: str | None = None
    field_path: str


class ResourceFieldSelector(KubeType):
    """Selects a resource limit or request of a container, e.g. `limits.memory`."""

    container_name: str | None = None
    resource: str
    divisor: Quantity | None = None


class EnvVarSource(KubeType):
    """Where an environment variable's value comes from when it is not literal."""

    secret_key_ref: KeySelector | None = None
    config_map_key_ref: KeySelector | None = None
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None


class EnvVar(KubeType):
    """An environment variable of the etcd container (core/v1 EnvVar)."""

    name: str = Field(min_length=1)
    """Variable name, e.g. ETCD_QUOTA_BACKEND_BYTES."""
    value: str | None = None
    """Literal value; etcd reads its flags from ETCD_* variables as strings."""
    value_from: EnvVarSource | None = None
    """Takes the value from a Secret, ConfigMap, pod field or resource instead."""


class TolerationOperator(StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(StrEnum):
    ALL = ""
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(KubeType):
    """Lets etcd pods run on nodes with matching taints (core/v1 Toleration)."""

    key: str | None = None
    operator: TolerationOperator | None = None
    value: str | None = None
    effect: TaintEffect | None = None
    toleration_seconds: int | None = None


class Affinity(KubeType):
    """Scheduling constraints of etcd pods (core/v1 Affinity), kept as written."""

    node_affinity: PreservedObject | None = None
    pod_affinity: PreservedObject | None = None
    pod_anti_affinity: PreservedObject | None = None


class Sysctl(KubeType):
    name: str
    value: str


class PodSecurityContext(KubeType):
    """Security settings of the whole etcd pod (core/v1 PodSecurityContext)."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    fs_group: int | None = None
    fs_group_change_policy: str | None = None
    supplemental_groups: list[int] = Field(default_factory=list)
    sysctls: list[Sysctl] = Field(default_factory=list)
    se_linux_options: PreservedObject | None = None
    seccomp_profile: PreservedObject | None = None
    app_armor_profile: PreservedObject | None = None
    windows_options: PreservedObject | None = None
