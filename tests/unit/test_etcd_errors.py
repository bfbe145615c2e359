"""The mapping from a failed gRPC call to the client's exceptions, as a table.

The details strings are the ones etcd 3.6/3.7 and grpcio answered with here (see
tests/integration/test_etcd_client.py, which provokes each on a real member).
"""

from __future__ import annotations

from typing import TypeAlias

import grpc
import pytest

from controller.clients.etcd import (
    EtcdClientError,
    LearnerNotReady,
    MemberNotFound,
    TLSFailure,
    TooManyLearners,
    Unavailable,
    UnhealthyCluster,
    error_for,
)

Code: TypeAlias = grpc.StatusCode


def dial(error: str) -> str:
    """grpcio's details when no connection came about; `error` is the last attempt's."""
    return f"failed to connect to all addresses; last error: {error}"


CASES: list[tuple[Code, str, bool, type[EtcdClientError]]] = [
    (
        Code.FAILED_PRECONDITION,
        "etcdserver: can only promote a learner member which is in sync with leader",
        False,
        LearnerNotReady,
    ),
    (
        Code.FAILED_PRECONDITION,
        "etcdserver: can only promote a learner member",
        False,
        EtcdClientError,
    ),
    (Code.NOT_FOUND, "etcdserver: member not found", False, MemberNotFound),
    (
        Code.FAILED_PRECONDITION,
        "etcdserver: too many learner members in cluster",
        False,
        TooManyLearners,
    ),
    (Code.UNAVAILABLE, "etcdserver: unhealthy cluster", False, UnhealthyCluster),
    (
        Code.FAILED_PRECONDITION,
        "etcdserver: re-configuration failed due to not enough started members",
        False,
        UnhealthyCluster,
    ),
    (
        Code.UNAVAILABLE,
        dial("UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused"),
        False,
        Unavailable,
    ),
    (Code.DEADLINE_EXCEEDED, "Deadline Exceeded", False, Unavailable),
    (
        Code.UNAVAILABLE,
        dial(
            "UNKNOWN: ipv4:127.0.0.1:1: Custom verification check failed with error: "
            "UNAUTHENTICATED: Hostname Verification Check failed."
        ),
        True,
        TLSFailure,
    ),
    (
        Code.UNAVAILABLE,
        dial(
            "UNKNOWN: ipv4:127.0.0.1:1: Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL:"
            " error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED"
        ),
        True,
        TLSFailure,
    ),
    (
        Code.UNAVAILABLE,
        dial("UNAVAILABLE: ipv4:127.0.0.1:1: Unwrap failed (TSI_DATA_CORRUPTED)"),
        True,
        TLSFailure,
    ),
    (
        Code.UNAVAILABLE,
        dial("UNAVAILABLE: ipv4:127.0.0.1:1: Handshake read failed (Socket closed)"),
        True,
        TLSFailure,
    ),
    (
        Code.UNAVAILABLE,
        dial("UNKNOWN: ipv4:127.0.0.1:1: Failed to create security handshaker."),
        True,
        TLSFailure,
    ),
    # A plaintext client at a TLS member only sees the connection closed.
    (Code.UNAVAILABLE, dial("UNAVAILABLE: ipv4:127.0.0.1:1: Socket closed"), False, Unavailable),
    (Code.PERMISSION_DENIED, "etcdserver: permission denied", False, EtcdClientError),
]


@pytest.mark.parametrize(("code", "details", "tls", "kind"), CASES)
def test_error_for(code: Code, details: str, tls: bool, kind: type[EtcdClientError]) -> None:
    error = error_for(code, details, "10.0.0.1:2379", tls)
    assert type(error) is kind
    assert str(error).startswith("10.0.0.1:2379: ")
    assert details in str(error)


def test_tls_words_mean_nothing_without_tls() -> None:
    """Without TLS the same words cannot be about TLS: the code decides."""
    error = error_for(Code.UNAVAILABLE, "Handshake read failed", "10.0.0.1:2379", tls=False)
    assert type(error) is Unavailable
