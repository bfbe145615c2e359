"""What backups and restores read from the Secrets their spec names: the S3 settings of an
`awsSecret` (the AWS shared files `credentials` and `config`, as the seed's `aws` Secret
holds them) and the etcd client certificate of a `clientTLSSecret`.

Problems are SecretProblem with a reason and a message that never quotes the Secret's data.
"""

from __future__ import annotations

import base64
import binascii

from api.storage import AWS_SECRET_CONFIG_FILE, AWS_SECRET_CREDENTIALS_FILE, S3Source
from controller.clients.etcd import TLSMaterial
from controller.clients.s3 import S3Error, S3Settings, settings_from_files
from controller.runtime.store import Obj

CLIENT_CA, CLIENT_CERT, CLIENT_KEY = "etcd-client-ca.crt", "etcd-client.crt", "etcd-client.key"
INVALID_AWS_SECRET = "InvalidAWSSecret"
INVALID_TLS_SECRET = "InvalidTLSSecret"


class SecretProblem(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def secret_files(secret: Obj) -> dict[str, bytes]:
    """The Secret's files, decoded (stringData is folded into data by the API server)."""
    name = (secret.get("metadata") or {}).get("name")
    try:
        return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    except (binascii.Error, ValueError):
        raise SecretProblem("InvalidSecret", f"Secret {name}: data is not base64") from None


def s3_settings(source: S3Source, secret: Obj) -> S3Settings:
    """Settings for `source` with the credentials and region of its `awsSecret`."""
    name = (secret.get("metadata") or {}).get("name")
    files = secret_files(secret)
    wanted = {AWS_SECRET_CREDENTIALS_FILE, AWS_SECRET_CONFIG_FILE} & files.keys()
    try:
        return settings_from_files(
            {k: files[k] for k in wanted}, source.endpoint, source.force_path_style
        )
    except S3Error as exc:
        raise SecretProblem(INVALID_AWS_SECRET, f"Secret {name}: {exc}") from None


def client_tls(secret: Obj) -> TLSMaterial:
    """The etcd client certificate, key and CA of a clientTLSSecret."""
    name = (secret.get("metadata") or {}).get("name")
    files = secret_files(secret)
    missing = [k for k in (CLIENT_CA, CLIENT_CERT, CLIENT_KEY) if not files.get(k)]
    if missing:
        raise SecretProblem(INVALID_TLS_SECRET, f"Secret {name} lacks {', '.join(missing)}")
    return TLSMaterial(ca=files[CLIENT_CA], cert=files[CLIENT_CERT], key=files[CLIENT_KEY])
