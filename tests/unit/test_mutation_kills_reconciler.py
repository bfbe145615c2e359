"""A whole reconciler pass on in-memory clients (observe replaced by a fixed snapshot): the
status is written only when it changed, with the resourceVersion it was computed from, a
stale write observes again, and Warning Events follow the written status."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import ClusterPhase, ClusterStatus, EtcdCluster
from api.operation import Operation
from controller.clients.etcd import UnhealthyCluster
from controller.clients.kube import ApiError, Resource
from controller.common.resources import ETCD_CLUSTERS
from controller.etcdcluster import reconciler as module
from controller.etcdcluster.observe import Observed
from controller.etcdcluster.reconciler import EtcdClusterReconciler, wire_status
from controller.etcdcluster.recovery import RecoveryPolicy
from controller.runtime.reconcile import Result, TerminalError
from controller.runtime.store import Obj
from tests.unit.test_etcdcluster_planner import A, B, C, member, observed, pod
from tests.unit.test_mutation_kills_executor import FakeEtcd, Log

KEY = "default/example"  # the seed's cluster, annotated scope: clusterwide
STEADY = observed(pods=(pod(A), pod(B), pod(C)), members=(member(A), member(B), member(C)))


class Cache:
    def __init__(self, obj: Obj | None):
        self.obj = obj
        self.writes: list[tuple[str, str | None]] = []  # (key, the resourceVersion before)

    def get(self, res: Resource, key: str) -> Obj | None:
        return self.obj if (res, key) == (ETCD_CLUSTERS, KEY) else None

    def wrote(self, res: Resource, key: str, before: str | None, after: Obj) -> None:
        self.writes.append((key, before))


class Kube:
    def __init__(self, error: ApiError | None = None):
        self.patches: list[tuple[str, Obj, str | None, str]] = []
        self.error = error
        self.created: list[str] = []

    async def patch(
        self, res: Resource, name: str, patch: Obj, namespace: str | None = None, **kw: Any
    ) -> Obj:
        self.patches.append((name, patch, namespace, kw.get("sub", "")))
        if self.error is not None:
            raise self.error
        return patch

    async def create(self, res: Resource, obj: Obj, namespace: str | None = None) -> Obj:
        self.created.append(obj["metadata"]["name"])
        return obj


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    async def record(self, ref: Any, type_: str, reason: str, message: str) -> None:
        assert (ref.kind, ref.name, ref.namespace) == ("EtcdCluster", "example", "default")
        self.recorded.append((type_, reason, message))


def wire(cluster: EtcdCluster, **meta: Any) -> Obj:
    obj: Obj = cluster.model_dump(mode="json", by_alias=True, exclude_none=True)
    obj["metadata"].update(meta)
    return obj


def reconciler(
    monkeypatch: pytest.MonkeyPatch,
    snapshot: Observed,
    obj: Obj | None,
    kube: Kube | None = None,
    etcd: Any = None,
) -> tuple[EtcdClusterReconciler, Kube, Events, list[str]]:
    kube = kube or Kube()
    events = Events()
    cache = Cache(obj)
    etcd = etcd if etcd is not None else FakeEtcd(Log())
    observed_keys: list[str] = []

    async def observe(cluster: EtcdCluster, cache_: Any, etcd_: Any) -> Observed:
        assert cache_ is cache and etcd_ is etcd  # the reconciler's own cache and etcd pool
        observed_keys.append(cluster.name)
        return dataclasses.replace(snapshot, cluster=cluster)

    monkeypatch.setattr(module, "observe", observe)
    rec = EtcdClusterReconciler(cache, kube, etcd, events, cluster_wide=True)  # type: ignore[arg-type]
    return rec, kube, events, observed_keys


async def test_status_is_written_once_then_not_again_while_nothing_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    obj = wire(STEADY.cluster, resourceVersion="41")
    rec, kube, events, _ = reconciler(monkeypatch, STEADY, obj)
    assert await rec.reconcile(KEY) == Result(requeue_after=30.0)
    assert len(kube.patches) == 1
    name, body, namespace, sub = kube.patches[0]
    assert (name, namespace, sub) == ("example", "default", "status")
    assert body["metadata"] == {"resourceVersion": "41"}
    assert body["status"]["phase"] == ClusterPhase.RUNNING
    assert rec.cache.writes == [(KEY, "41")]  # type: ignore[attr-defined]  # read back next pass
    # The API now holds what was written: the next passes write nothing.
    obj["status"] = body["status"]
    obj["metadata"]["resourceVersion"] = "42"
    await rec.reconcile(KEY)
    await rec.reconcile(KEY)
    assert len(kube.patches) == 1 and events.recorded == []


async def test_a_stale_write_observes_again(monkeypatch: pytest.MonkeyPatch) -> None:
    stale = Kube(ApiError(409, {"reason": "Conflict", "message": "the object has been modified"}))
    rec, _, _, _ = reconciler(monkeypatch, STEADY, wire(STEADY.cluster), stale)
    assert await rec.reconcile(KEY) == Result(requeue=True)
    assert rec.cache.writes == []  # type: ignore[attr-defined]  # nothing written to read back
    other = Kube(ApiError(500, {"reason": "InternalError", "message": "boom"}))
    rec, _, _, _ = reconciler(monkeypatch, STEADY, wire(STEADY.cluster), other)
    with pytest.raises(ApiError):
        await rec.reconcile(KEY)


async def test_a_failed_cluster_gets_its_warning_with_the_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad = dataclasses.replace(STEADY, tls=dataclasses.replace(STEADY.tls, missing_secrets=("s",)))
    obj = wire(STEADY.cluster)
    rec, kube, events, _ = reconciler(monkeypatch, bad, obj)
    assert await rec.reconcile(KEY) == Result(requeue_after=15.0)
    assert events.recorded == [("Warning", "TLSSecretMissing", "missing TLS secrets: s")]
    obj["status"] = kube.patches[0][1]["status"]
    await rec.reconcile(KEY)
    assert len(events.recorded) == 1  # not again for the same reason


async def test_objects_not_to_reconcile(monkeypatch: pytest.MonkeyPatch) -> None:
    rec, kube, _, seen = reconciler(monkeypatch, STEADY, None)
    assert await rec.reconcile(KEY) == Result()
    other_scope = wire(STEADY.cluster, annotations={})  # the seed is cluster-wide; this is not
    rec, kube, _, seen = reconciler(monkeypatch, STEADY, other_scope)
    assert await rec.reconcile(KEY) == Result()
    deleting = wire(STEADY.cluster, deletionTimestamp="2026-01-01T00:00:00Z")
    rec, kube, _, seen = reconciler(monkeypatch, STEADY, deleting)
    assert await rec.reconcile(KEY) == Result()
    assert seen == [] and kube.patches == []
    invalid = wire(STEADY.cluster)
    invalid["spec"]["size"] = "many"
    rec, _, _, _ = reconciler(monkeypatch, STEADY, invalid)
    with pytest.raises(TerminalError, match="invalid EtcdCluster default/example"):
        await rec.reconcile(KEY)


async def test_reports_are_logged_when_they_change_changes_always(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=module.__name__)
    obj = wire(STEADY.cluster)
    rec, _, _, _ = reconciler(monkeypatch, STEADY, obj)
    for _ in range(3):
        await rec.reconcile(KEY)
    steps = [r for r in caplog.records if r.getMessage().startswith("reconcile step")]
    assert [r.getMessage() for r in steps] == ["reconcile step Steady"]
    assert getattr(steps[0], "action", None) == "Steady"
    caplog.clear()
    waiting = observed(pods=(pod(A, ready=False),))  # seed starting: a Wait with its detail
    rec, _, _, _ = reconciler(monkeypatch, waiting, wire(waiting.cluster))
    await rec.reconcile(KEY)
    await rec.reconcile(KEY)
    steps = [r for r in caplog.records if r.getMessage().startswith("reconcile step")]
    assert len(steps) == 1 and getattr(steps[0], "detail", None)
    caplog.clear()
    growing = observed(pods=(pod(A),), pvcs=())  # a change (CreateVolume) is logged each time
    rec, kube, _, _ = reconciler(monkeypatch, growing, wire(growing.cluster))
    assert await rec.reconcile(KEY) == Result()  # its event brings the cluster back
    await rec.reconcile(KEY)
    steps = [r for r in caplog.records if r.getMessage().startswith("reconcile step")]
    assert len(steps) == 2 and kube.created == [A, A]


async def test_the_pass_hands_its_time_and_policy_to_planner_and_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = RecoveryPolicy(grace=timedelta(seconds=7))
    seen: list[tuple[str, Any]] = []
    real_plan, real_status, real_events = module.plan, module.desired_status, module.status_events

    def plan(obs: Observed, now: datetime, given: RecoveryPolicy) -> Any:
        seen.append(("plan", (now, given)))
        return real_plan(obs, now, given)

    def desired_status(obs: Observed, action: Any, previous: Any, now: datetime) -> Any:
        seen.append(("status", now))
        return real_status(obs, action, previous, now)

    def status_events(previous: Any, current: Any, action: Any = None) -> Any:
        seen.append(("events", action))
        return real_events(previous, current, action)

    monkeypatch.setattr(module, "plan", plan)
    monkeypatch.setattr(module, "desired_status", desired_status)
    monkeypatch.setattr(module, "status_events", status_events)
    rec, kube, _, _ = reconciler(monkeypatch, STEADY, wire(STEADY.cluster))
    rec.recovery = policy
    before = datetime.now(UTC)
    await rec.reconcile(KEY)
    (_, (plan_now, given)), (_, status_now), (_, action) = seen
    assert given is policy and plan_now == status_now and before <= plan_now <= datetime.now(UTC)
    assert action is not None and action.reason == "Steady"
    condition = kube.patches[0][1]["status"]["conditions"][0]
    assert condition["lastTransitionTime"] and condition["lastUpdateTime"]
    default = EtcdClusterReconciler(Cache(None), Kube(), None, Events(), True)  # type: ignore[arg-type]
    assert default.recovery == RecoveryPolicy()


async def test_changes_go_through_the_reconcilers_etcd_and_events(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=module.__name__)
    one = observed(pods=(pod(A),), members=(member(A),))  # short of 3: add a learner
    log = Log()
    rec, kube, events, _ = reconciler(monkeypatch, one, wire(one.cluster), etcd=FakeEtcd(log))
    assert await rec.reconcile(KEY) == Result(requeue_after=1.0)
    assert [c[0] for c in log.calls] == ["member_add"]
    assert [e[1] for e in events.recorded] == ["MemberAdded"] and len(kube.created) == 2
    refused = Log()
    rec, _, events, _ = reconciler(
        monkeypatch, one, wire(one.cluster), etcd=FakeEtcd(refused, UnhealthyCluster("busy"))
    )
    assert await rec.reconcile(KEY) == Result(requeue_after=0.5)
    assert "AddLearner not applied yet: busy" in caplog.messages


async def test_a_stale_write_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=module.__name__)
    stale = Kube(ApiError(409, {"reason": "Conflict", "message": "modified"}))
    rec, _, _, _ = reconciler(monkeypatch, STEADY, wire(STEADY.cluster), stale)
    await rec.reconcile(KEY)
    assert "status not written, observing again: EtcdCluster example: modified" in caplog.messages


async def test_reports_are_remembered_per_cluster_and_forgotten_when_it_goes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=module.__name__)
    obj = wire(STEADY.cluster)
    rec, _, _, _ = reconciler(monkeypatch, STEADY, obj)

    def steps() -> int:
        return sum(1 for m in caplog.messages if m.startswith("reconcile step"))

    await rec.reconcile(KEY)
    rec._log("default/other", module.Steady())  # another cluster's first report is logged
    assert steps() == 2
    rec.cache.obj = None  # type: ignore[attr-defined]  # the cluster is deleted...
    await rec.reconcile(KEY)
    rec.cache.obj = obj  # type: ignore[attr-defined]  # ...and created again: logged again
    await rec.reconcile(KEY)
    assert steps() == 3


def test_the_status_patch_is_json_with_the_apis_field_names() -> None:
    started = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    status = ClusterStatus(
        phase=ClusterPhase.RUNNING, operation=Operation(type="QuorumRecovery", started_at=started)
    )
    body = wire_status(status)
    json.dumps(body)  # every value is JSON already (times as strings)
    assert body["operation"]["startedAt"] == "2026-11-30T12:00:00Z"
    assert body["controlPaused"] is False and body["readyMembers"] == 0


async def test_a_recorded_decision_is_durable_before_the_fault_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from controller.runtime.faults import InjectedFault, injected
    from tests.unit.test_etcdcluster_recovery import LOST_TWO

    rec, kube, events, _ = reconciler(monkeypatch, LOST_TWO, wire(LOST_TWO.cluster))
    with injected({"after-operation-record": "error"}), pytest.raises(InjectedFault):
        await rec.reconcile(KEY)
    assert len(kube.patches) == 1  # the operation was written before the process could die
    assert kube.patches[0][1]["status"]["operation"]["type"] == "QuorumRecovery"
    assert [e[1] for e in events.recorded] == ["QuorumLost"]


def test_the_status_patch_has_exactly_the_status_fields() -> None:
    body = wire_status(ClusterStatus(phase=ClusterPhase.RUNNING))
    fields = {f.alias or name for name, f in ClusterStatus.model_fields.items()}
    assert set(body) == fields
