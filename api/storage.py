"""Where backups live: the storage types and their sources, shared by EtcdBackup and EtcdRestore.

CoreOS has separate Backup/Restore source structs with the same fields; one model per store
serves both here. S3 (and S3-compatible stores) is what the operator implements; ABS, GCS and
OSS are accepted by the schema so CoreOS manifests apply, and the operator answers them with a
"not supported yet" condition.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from api.meta import CrossFieldRule, WireModel

# "<bucket>/<key>", e.g. "mybucket/etcd.backup": a non-empty bucket, a slash, a non-empty key.
BUCKET_PATH_PATTERN = r"^[^/]+/.+$"


class BackupStorageType(StrEnum):
    S3 = "S3"
    ABS = "ABS"
    GCS = "GCS"
    OSS = "OSS"


# The storage types the operator implements today.
SUPPORTED_STORAGE_TYPES = frozenset({BackupStorageType.S3})

# Files CoreOS expects in the Secrets each store names.
AWS_SECRET_CREDENTIALS_FILE = "credentials"
AWS_SECRET_CONFIG_FILE = "config"
AZURE_SECRET_STORAGE_ACCOUNT = "storage-account"
AZURE_SECRET_STORAGE_KEY = "storage-key"
AZURE_SECRET_CLOUD = "cloud"
GCP_SECRET_ACCESS_TOKEN = "access-token"
GCP_SECRET_CREDENTIALS_JSON = "credentials.json"
OSS_SECRET_ACCESS_KEY_ID = "accessKeyID"
OSS_SECRET_ACCESS_KEY_SECRET = "accessKeySecret"


class S3Source(WireModel):
    """An object in S3 or an S3-compatible store."""

    path: str = Field(pattern=BUCKET_PATH_PATTERN)
    """"<s3-bucket-name>/<path-to-backup-file>", e.g. "mybucket/etcd.backup"."""
    aws_secret: str | None = None
    """Secret with the files `credentials` and `config` (AWS shared format, profile default)."""
    endpoint: str | None = None
    """Endpoint of an S3-compatible store; empty means AWS."""
    force_path_style: bool = False
    """Use path-style addressing (endpoint/bucket/key) instead of bucket subdomains."""

    @property
    def bucket(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def key(self) -> str:
        return self.path.split("/", 1)[1]


class ABSSource(WireModel):
    """A blob in Azure Blob Storage (accepted, not implemented yet)."""

    path: str = Field(pattern=BUCKET_PATH_PATTERN)
    """"<abs-container-name>/<path-to-backup-file>"."""
    abs_secret: str
    """Secret with storage-account, storage-key and optionally cloud."""


class GCSSource(WireModel):
    """An object in Google Cloud Storage (accepted, not implemented yet)."""

    path: str = Field(pattern=BUCKET_PATH_PATTERN)
    """"<gcs-bucket-name>/<path-to-backup-file>"."""
    gcp_secret: str | None = None
    """Secret with access-token or credentials.json; unset uses default credentials."""


class OSSSource(WireModel):
    """An object in Alibaba Cloud OSS (accepted, not implemented yet)."""

    path: str = Field(pattern=BUCKET_PATH_PATTERN)
    """"<oss-bucket-name>/<path-to-backup-file>"."""
    oss_secret: str
    """Secret with accessKeyID and accessKeySecret."""
    endpoint: str | None = None
    """OSS endpoint; CoreOS defaults to http://oss-cn-hangzhou.aliyuncs.com."""


def source_required_rules(type_field: str, type_attr: str) -> tuple[CrossFieldRule, ...]:
    """Per store: its source (spec.s3, spec.abs, ...) is required when spec.<type_field> names it.

    `type_field` is the wire name of the storage-type field, `type_attr` its Python name.
    """
    return tuple(_source_required(type_field, type_attr, t) for t in BackupStorageType)


def _source_required(type_field: str, type_attr: str, kind: BackupStorageType) -> CrossFieldRule:
    source = kind.value.lower()

    def check(spec: object) -> bool:
        return getattr(spec, type_attr) != kind or getattr(spec, source) is not None

    return CrossFieldRule(
        cel=f"self.{type_field} != '{kind.value}' || has(self.{source})",
        message=f"spec.{source} is required when spec.{type_field} is {kind.value}",
        check=check,
        field_path=f".{source}",
        reason="FieldValueRequired",
    )
