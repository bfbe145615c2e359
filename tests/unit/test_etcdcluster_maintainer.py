"""spec.maintenance in the EtcdCluster reconciler: a run starts only after a Steady pass with
something to do, fragmentation is looked at again without Kubernetes events, an ended run
becomes Events, and a NOSPACE alarm is a Degraded cluster whose members are still healthy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from api.cluster import MaintenancePolicy
from controller.clients.etcd import EtcdPool
from controller.etcdcluster.actions import Steady, Wait, WaitReason
from controller.etcdcluster.maintainer import Maintainer, report_events, task_key
from controller.etcdcluster.maintenance import (
    CHECK_INTERVAL,
    NO_SPACE_BLOCKED,
    Compact,
    Nothing,
)
from controller.etcdcluster.maintenance_runner import Done, MaintenanceReport
from controller.etcdcluster.observe import EtcdView, MemberView, Observed
from controller.etcdcluster.status import desired_status
from controller.runtime.clock import FakeClock
from controller.runtime.tasks import Tasks, TaskState, TaskStatus
from tests.unit.test_etcdcluster_planner import IDS, A, B, C, member, observed, pod

MiB = 1024 * 1024
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def sized(view: MemberView, size: int, in_use: int, errors: tuple[str, ...] = ()) -> MemberView:
    assert view.status is not None
    status = replace(
        view.status, db_size=size, db_size_in_use=in_use, db_size_quota=2048 * MiB, errors=errors
    )
    return replace(view, status=status)


def cluster_of(*views: MemberView, policy: MaintenancePolicy | None = None) -> Observed:
    obs = observed(pods=(pod(A), pod(B), pod(C)), members=views)
    target = obs.cluster.model_copy(deep=True)
    target.spec.maintenance = policy
    return replace(obs, cluster=target)


FRAGMENTED = tuple(sized(member(n), 400 * MiB, 100 * MiB) for n in (A, B, C))
COMPACT = tuple(sized(member(n), 400 * MiB, 390 * MiB) for n in (A, B, C))


class Recorder:
    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []

    def __call__(self, task: str, key: str, work: Any) -> TaskStatus:
        work().close()  # the coroutine is not run here
        self.started.append((task, key))
        return TaskStatus(task, "etcdcluster", TaskState.RUNNING, 0.0)


def maintainer() -> tuple[Maintainer, Recorder]:
    m = Maintainer(Tasks(), EtcdPool(), FakeClock())
    m.ensure_task = recorder = Recorder()
    return m, recorder


def test_off_without_spec_maintenance() -> None:
    m, started = maintainer()
    assert m.start_if_due("default/example", cluster_of(*FRAGMENTED), Steady()) is None
    assert started.started == []


def test_a_steady_fragmented_cluster_starts_one_run() -> None:
    m, started = maintainer()
    obs = cluster_of(*FRAGMENTED, policy=MaintenancePolicy())
    assert m.start_if_due("default/example", obs, Steady()) is None
    assert started.started == [(task_key("default/example"), "default/example")]


def test_nothing_to_do_or_not_steady_looks_again_later() -> None:
    m, started = maintainer()
    quiet = cluster_of(*COMPACT, policy=MaintenancePolicy())
    assert m.start_if_due("default/example", quiet, Steady()) == CHECK_INTERVAL
    busy = cluster_of(*FRAGMENTED, policy=MaintenancePolicy())
    assert m.start_if_due("default/example", busy, Wait(WaitReason.UNHEALTHY)) == CHECK_INTERVAL
    assert started.started == []


def test_an_ended_run_becomes_events() -> None:
    done = Done(Compact(9, "compact"), "Compacted", "compacted to 9", 0.1)
    blocked = Nothing(NO_SPACE_BLOCKED, "the data does not fit")
    report = MaintenanceReport((done,), blocked, "defragment b: timeout", 5.0)
    ok = TaskStatus("t", "o", TaskState.SUCCEEDED, 0.0, 5.0, result=report)
    assert report_events(ok) == [
        ("Normal", "Compacted", "compacted to 9"),
        ("Warning", "MaintenanceFailed", "defragment b: timeout"),
        ("Warning", NO_SPACE_BLOCKED, "the data does not fit"),
    ]
    failed = TaskStatus("t", "o", TaskState.FAILED, 0.0, 5.0, error="boom")
    assert report_events(failed) == [("Warning", "MaintenanceFailed", "boom")]


def test_a_nospace_alarm_degrades_the_cluster_but_not_its_members() -> None:
    alarm = (f"memberID:{IDS[B]} alarm:NOSPACE",)
    views = tuple(sized(member(n), 100 * MiB, 90 * MiB, alarm) for n in (A, B, C))
    obs = cluster_of(*views)
    assert all(v.healthy for v in EtcdView(views).voting)
    status = desired_status(obs, Steady(), obs.cluster.status, NOW)
    degraded = next(c for c in status.conditions if c.type == "Degraded")
    assert degraded.reason == "NoSpace"
    assert degraded.message is not None and degraded.message.startswith(
        f"NOSPACE alarm raised by {B}"
    )
