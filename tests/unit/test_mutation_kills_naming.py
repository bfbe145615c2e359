"""Names the operator derives, pinned where mutants survived: a peer URL names a member only
when its host is member-shaped, and backup names are in UTC whatever the local zone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from controller.etcdbackup.naming import periodic_name
from controller.etcdcluster.naming import pod_name_from_peer_url


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_peer_url_names_a_member_only_when_its_host_is_member_shaped() -> None:
    member = "https://example-abcdefghij.example.default.svc:2380"
    assert pod_name_from_peer_url(member, "example", "default") == "example-abcdefghij"
    for other in (
        "https://etcd-0.example.default.svc:2380",  # not <cluster>-<10 [a-z0-9]>
        "https://example-abcdefghij.other.default.svc:2380",  # another cluster's service
        "example-abcdefghij.example.default.svc:2380",  # no scheme
    ):
        assert pod_name_from_peer_url(other, "example", "default") is None


def test_periodic_backup_names_are_utc_whatever_the_local_zone(tokyo: None) -> None:
    taken = datetime(2026, 11, 30, 21, 53, 40, tzinfo=timezone(timedelta(hours=9)))
    assert taken.astimezone(UTC).hour == 12
    assert periodic_name("etcd.backup", 7, taken) == "etcd.backup_v7_2026-11-30-12:53:40"
