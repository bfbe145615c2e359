"""What the planner sees of one EtcdBackup, and the job a backup would run, from the cache.

The spec is checked for what the CRD cannot say (a storage type not implemented yet, the
endpoints' form); the Secrets it names are read from the cache — a missing one is waited
for (its creation enqueues the backup), a malformed one is reported like a bad spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from api import EtcdBackup
from api.storage import SUPPORTED_STORAGE_TYPES
from controller.clients.etcd import Endpoint, TLSMaterial
from controller.clients.s3 import S3Settings
from controller.common.resources import SECRETS
from controller.common.secretfiles import SecretProblem, client_tls, s3_settings
from controller.etcdbackup.task import DEFAULT_TIMEOUT, BackupJob
from controller.runtime.cache import Cache
from controller.runtime.store import Obj, join_key

INVALID_SPEC = "InvalidSpec"


class SpecProblem(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Inputs:
    """The job, or why there is none yet."""

    job: BackupJob | None = None
    problem: tuple[str, str] | None = None
    missing_secrets: tuple[str, ...] = ()
    version: str = ""  # the generation and the Secrets' resourceVersions


def backup_secrets(obj: Obj) -> list[str | None]:
    """The Secrets an EtcdBackup names (raw object: what the Secret index lists)."""
    spec = obj.get("spec") or {}
    return [(spec.get("s3") or {}).get("awsSecret"), spec.get("clientTLSSecret")]


def inputs(backup: EtcdBackup, cache: Cache) -> Inputs:
    try:
        endpoints, secure = parse_endpoints(backup)
    except SpecProblem as exc:
        return Inputs(problem=(exc.reason, str(exc)))
    spec, s3 = backup.spec, backup.spec.s3
    assert s3 is not None and s3.aws_secret  # parse_endpoints checked both
    wanted = [s3.aws_secret] + (
        [spec.client_tls_secret] if secure and spec.client_tls_secret else []
    )
    found = {n: cache.get(SECRETS, join_key(backup.namespace, n)) for n in wanted}
    missing = tuple(n for n, obj in found.items() if obj is None)
    version = "/".join(
        [str(backup.metadata.generation)]
        + [
            str(((obj or {}).get("metadata") or {}).get("resourceVersion"))
            for obj in found.values()
        ]
    )
    if missing:
        return Inputs(missing_secrets=missing, version=version)
    try:
        settings: S3Settings = s3_settings(s3, found[s3.aws_secret] or {})
        tls: TLSMaterial | None = None
        if secure and spec.client_tls_secret:
            tls = client_tls(found[spec.client_tls_secret] or {})
    except SecretProblem as exc:
        return Inputs(problem=(exc.reason, str(exc)), version=version)
    policy = spec.backup_policy
    timeout = policy.timeout_in_second if policy and policy.timeout_in_second else DEFAULT_TIMEOUT
    return Inputs(
        job=BackupJob(
            endpoints=endpoints,
            s3=settings,
            bucket=s3.bucket,
            key=s3.key,
            periodic=spec.is_periodic,
            max_backups=policy.max_backups if policy else 0,
            timeout=float(timeout),
            tls=tls,
        ),
        version=version,
    )


def parse_endpoints(backup: EtcdBackup) -> tuple[tuple[Endpoint, ...], bool]:
    """The endpoints (host:port) and whether they speak TLS; SpecProblem if the spec cannot
    work. https means TLS, http plaintext; a bare host:port means TLS when a clientTLSSecret
    is given (as etcd's own client does)."""
    spec = backup.spec
    if spec.storage_type not in SUPPORTED_STORAGE_TYPES:
        raise SpecProblem(
            "StorageTypeNotSupported", f"storageType {spec.storage_type} is not supported yet"
        )
    if spec.s3 is None or not spec.s3.aws_secret:
        raise SpecProblem(INVALID_SPEC, "spec.s3.awsSecret is required")
    if not spec.etcd_endpoints:
        raise SpecProblem(INVALID_SPEC, "spec.etcdEndpoints is empty")
    schemes, endpoints = set(), []
    for url in spec.etcd_endpoints:
        parsed = urlsplit(url if "://" in url else f"//{url}")
        try:
            port = parsed.port
        except ValueError:
            port = None
        if parsed.scheme not in ("", "http", "https") or not parsed.hostname or not port:
            raise SpecProblem(INVALID_SPEC, f"etcd endpoint {url!r} is not [http[s]://]host:port")
        schemes.add(parsed.scheme or ("https" if spec.client_tls_secret else "http"))
        endpoints.append(Endpoint(parsed.netloc))
    if len(schemes) > 1:
        raise SpecProblem(INVALID_SPEC, "spec.etcdEndpoints mixes http and https")
    secure = schemes == {"https"}
    if secure and not spec.client_tls_secret:
        raise SpecProblem(INVALID_SPEC, "https etcd endpoints need spec.clientTLSSecret")
    return tuple(endpoints), secure
