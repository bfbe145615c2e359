"""Probe thresholds and parsing."""

import pytest
from nodeagent.probes import (
    ProbeTracker,
    _health_request,
    _health_status,
    parse_probe,
    resolve_port,
)


def test_defaults_and_kind() -> None:
    spec = parse_probe({"httpGet": {"path": "/health", "port": 2379}})
    assert spec is not None
    assert (
        spec.kind,
        spec.period,
        spec.timeout,
        spec.success_threshold,
        spec.failure_threshold,
        spec.initial_delay,
    ) == ("httpGet", 10, 1, 1, 3, 0)
    assert parse_probe(None) is None and parse_probe({}) is None


def test_failure_threshold_needs_consecutive_failures() -> None:
    t = ProbeTracker(success_threshold=1, failure_threshold=3, result=True)
    assert [t.record(ok) for ok in (False, False, True, False, False)] == [False] * 5
    assert t.result is True
    assert t.record(False) is True and t.result is False


def test_success_threshold() -> None:
    t = ProbeTracker(success_threshold=2, failure_threshold=1, result=False)
    assert t.record(True) is False
    assert t.record(True) is True and t.result is True
    assert t.record(False) is True and t.result is False


def test_named_ports() -> None:
    assert resolve_port(2379, {}) == 2379
    assert resolve_port("2380", {}) == 2380
    assert resolve_port("client", {"client": 2379}) == 2379
    with pytest.raises(ValueError):
        resolve_port("metrics", {"client": 2379})


def test_grpc_health_wire_format() -> None:
    assert _health_request("") == b""
    assert _health_request("etcd") == b"\x0a\x04etcd"
    assert _health_status(b"\x08\x01") == 1
    assert _health_status(b"\x08\x02") == 2
    assert _health_status(b"") == 0
