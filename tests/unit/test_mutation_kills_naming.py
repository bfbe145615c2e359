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


def test_a_member_host_without_a_cluster_domain() -> None:
    from controller.etcdcluster.naming import member_host

    assert member_host("example-abcdefghij", "example", "ns") == "example-abcdefghij.example.ns.svc"


# --- rolling: versions, the order of outdated members, a one-member roll -------------------------
def test_versions_parse_with_a_v_a_pre_release_and_extra_parts() -> None:
    from controller.etcdcluster.rolling import parse_version

    assert parse_version("v3.6.16") == (3, 6, 16)
    assert parse_version("3.7.0-rc.1") == (3, 7, 0)
    assert parse_version("3.7.0-rc-1") == (3, 7, 0)
    assert parse_version("3.6.16.2") == (3, 6, 16)
    assert parse_version("V3.6.16") is None and parse_version("3.6") is None


def test_outdated_members_come_in_name_order_and_a_lone_member_rolls_itself() -> None:
    from dataclasses import replace

    from controller.etcdcluster.actions import StopMember
    from controller.etcdcluster.observe import EtcdView
    from controller.etcdcluster.planner import plan
    from controller.etcdcluster.rolling import outdated_members
    from tests.unit.test_etcdcluster_planner import A, B, C, member, observed, pod

    upgrade = {"spec.version": "3.7.3"}
    obs = observed(pods=(pod(A), pod(B), pod(C)), members=(member(A), member(B), member(C)))
    obs = replace(obs, cluster=observed(fields=upgrade).cluster)
    backwards = EtcdView((member(C), member(B), member(A)))
    assert [v.pod for v in outdated_members(obs, backwards)] == [A, B, C]

    alone = observed(size=1, pods=(pod(A),), members=(member(A),), fields=upgrade)
    alone = replace(alone, budget=1)
    step = plan(alone, datetime(2026, 11, 30, tzinfo=UTC))
    assert step == StopMember(A, "rolling to the current spec (version 3.6.16 → 3.7.3)")

    template = observed(size=1, pods=(replace(pod(A), template="old"),), members=(member(A),))
    template = replace(template, budget=1)
    step = plan(template, datetime(2026, 11, 30, tzinfo=UTC))
    assert step == StopMember(A, "rolling to the current spec (pod policy or trusted CAs changed)")
