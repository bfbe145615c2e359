"""The executor's step order and error handling, through in-memory clients that log every call.

Written against mutants (hack/mutation.py) that survived: each test names what it pins down.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from controller.clients.etcd import (
    EtcdClientError,
    LearnerNotReady,
    Member,
    MemberNotFound,
    TooManyLearners,
    UnhealthyCluster,
)
from controller.clients.kube import ApiError, Resource
from controller.etcdcluster import naming, resources
from controller.etcdcluster.actions import (
    ApplyDisruptionBudget,
    DeleteFailedPod,
    MoveLeader,
    RestartMember,
    StopMember,
)
from controller.etcdcluster.executor import Applied, Executor, NotYet, cluster_ref
from controller.etcdcluster.observe import PodView
from controller.etcdcluster.planner import (
    AddLearner,
    BadSpec,
    BootstrapSeed,
    CreateMemberPod,
    CreateService,
    CreateVolume,
    DeleteStrayPod,
    DeleteStrayVolume,
    Paused,
    PromoteLearner,
    RemoveMember,
    Steady,
    Wait,
    WaitReason,
)
from controller.runtime.faults import InjectedFault, injected
from controller.runtime.store import Obj
from tests.unit.test_etcdcluster_planner import IDS, A, B, C, member, observed, peers, pod


class Log:
    """One list of every call the executor made, in order, across kube, etcd and events."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.objects: dict[str, Obj] = {}

    def kinds(self, verb: str) -> list[str]:
        return [c[1] for c in self.calls if c[0] == verb]


class FakeKube:
    def __init__(self, log: Log, fail: dict[tuple[str, str], ApiError] | None = None):
        self.log = log
        self.fail = fail or {}

    async def create(self, res: Resource, obj: Obj, namespace: str | None = None) -> Obj:
        name = obj["metadata"]["name"]
        self.log.calls.append(("create", res.kind, name))
        self.log.objects[f"{res.kind}/{name}"] = obj
        if (error := self.fail.get(("create", res.kind))) is not None:
            raise error
        return obj

    async def delete(self, res: Resource, name: str, namespace: str | None = None) -> Obj:
        self.log.calls.append(("delete", res.kind, name, namespace))
        if (error := self.fail.get(("delete", res.kind))) is not None:
            raise error
        return {}


class FakeEtcdClient:
    def __init__(self, log: Log, endpoint: Any, error: Exception | None):
        self.log = log
        self.endpoint = endpoint
        self.error = error

    def _call(self, *call: Any) -> None:
        self.log.calls.append((*call, self.endpoint.address))
        if self.error is not None:
            raise self.error

    async def member_add(self, peer_urls: list[str], is_learner: bool) -> Member:
        self._call("member_add", tuple(peer_urls), is_learner)
        return Member(0x42, "", tuple(peer_urls), (), is_learner)

    async def member_promote(self, member_id: int) -> None:
        self._call("member_promote", member_id)

    async def member_remove(self, member_id: int) -> None:
        self._call("member_remove", member_id)

    async def move_leader(self, member_id: int) -> None:
        self._call("move_leader", member_id)


class FakeEtcd:
    def __init__(self, log: Log, error: Exception | None = None):
        self.log = log
        self.error = error

    async def client(self, endpoint: Any, tls: Any) -> FakeEtcdClient:
        return FakeEtcdClient(self.log, endpoint, self.error)


class FakeEvents:
    def __init__(self, log: Log):
        self.log = log

    async def record(self, ref: Any, type_: str, reason: str, message: str) -> None:
        self.log.calls.append(("event", reason, message, type_, ref.name))


def fake_executor(kube: FakeKube, etcd: FakeEtcd, events: FakeEvents) -> Executor:
    """An Executor over the in-memory fakes, which are not the real clients: FakeKube has no
    patch (PatchingKube adds it) nor a grace period on delete, FakeEtcd hands out FakeEtcdClient."""
    return Executor(kube, etcd, events)  # type: ignore[arg-type]  # fakes for Kube and Etcd


def executor(
    kube_fail: dict[tuple[str, str], ApiError] | None = None, etcd_error: Exception | None = None
) -> tuple[Executor, Log]:
    log = Log()
    return fake_executor(FakeKube(log, kube_fail), FakeEtcd(log, etcd_error), FakeEvents(log)), log


def ip_pod(name: str, ip: str | None) -> PodView:
    return PodView(name, "Running", True, ip, False, name, "3.6.16", None)


THREE = observed(
    size=2,
    pods=(ip_pod(A, "10.0.0.1"), ip_pod(B, "10.0.0.2"), ip_pod(C, "10.0.0.3")),
    members=(member(A), member(B), member(C)),
)


# --- member removal: etcd first, then the pod, then its volume ---------------------------------
async def test_remove_member_goes_etcd_then_pod_then_volume_then_event() -> None:
    ex, log = executor()
    assert await ex.apply(THREE, RemoveMember(IDS[C], C)) == Applied()
    assert [c[:3] for c in log.calls] == [
        ("member_remove", IDS[C], "10.0.0.1:2379"),  # sent to the leader (A)
        ("delete", "Pod", C),
        ("delete", "PersistentVolumeClaim", C),
        ("event", "MemberRemoved", f"member {C} removed"),
    ]
    assert log.calls[1][3] == log.calls[2][3] == "default"


async def test_remove_member_already_gone_from_etcd_still_deletes_pod_and_volume() -> None:
    ex, log = executor(etcd_error=MemberNotFound("gone"))
    assert await ex.apply(THREE, RemoveMember(IDS[C], C)) == Applied()
    assert [c[:3] for c in log.calls[1:3]] == [
        ("delete", "Pod", C),
        ("delete", "PersistentVolumeClaim", C),
    ]


async def test_remove_member_without_a_pod_deletes_nothing() -> None:
    ex, log = executor()
    await ex.apply(THREE, RemoveMember(IDS[C], None))
    assert log.kinds("delete") == [] and log.kinds("event") == ["MemberRemoved"]


async def test_remove_stops_at_a_fault_between_etcd_and_the_pod() -> None:
    ex, log = executor()
    with injected({"after-member-remove": "error"}), pytest.raises(InjectedFault):
        await ex.apply(THREE, RemoveMember(IDS[C], C))
    assert [c[0] for c in log.calls] == ["member_remove"]
    ex, log = executor()
    with injected({"after-pod-delete": "error"}), pytest.raises(InjectedFault):
        await ex.apply(THREE, RemoveMember(IDS[C], C))
    assert [c[:2] for c in log.calls] == [("member_remove", IDS[C]), ("delete", "Pod")]


async def test_delete_not_found_is_done_other_errors_raise() -> None:
    ex, _ = executor({("delete", "Pod"): ApiError(404, {"reason": "NotFound"})})
    assert await ex.apply(THREE, DeleteStrayPod(C)) == Applied()
    ex, _ = executor({("delete", "Pod"): ApiError(500, {"reason": "InternalError"})})
    with pytest.raises(ApiError):
        await ex.apply(THREE, DeleteStrayPod(C))


async def test_stray_pod_and_volume_are_deleted_by_name() -> None:
    ex, log = executor()
    await ex.apply(THREE, DeleteStrayPod(C))
    await ex.apply(THREE, DeleteStrayVolume("old"))
    assert [c[:3] for c in log.calls] == [
        ("delete", "Pod", C),
        ("delete", "PersistentVolumeClaim", "old"),
    ]


# --- the leader gets membership changes ---------------------------------------------------------
async def test_changes_go_to_the_leader_else_a_healthy_member_with_an_ip() -> None:
    led_by_b = observed(
        pods=(ip_pod(A, "10.0.0.1"), ip_pod(B, "10.0.0.2")),
        members=(member(A, leader=0xB), member(B, leader=0xB)),
    )
    ex, log = executor()
    await ex.apply(led_by_b, PromoteLearner(IDS[B], B))
    assert log.calls[0] == ("member_promote", IDS[B], "10.0.0.2:2379")

    leader_has_no_ip = observed(
        pods=(ip_pod(A, None), ip_pod(B, "10.0.0.2")), members=(member(A), member(B))
    )
    ex, log = executor()
    await ex.apply(leader_has_no_ip, PromoteLearner(IDS[B], B))
    assert log.calls[0][-1] == "10.0.0.2:2379"

    leader_down = observed(
        pods=(ip_pod(A, "10.0.0.1"), ip_pod(B, "10.0.0.2")),
        members=(member(A, up=False), member(B)),
    )
    ex, log = executor()
    await ex.apply(leader_down, PromoteLearner(IDS[B], B))
    assert log.calls[0][-1] == "10.0.0.2:2379"

    nobody = observed(pods=(ip_pod(A, None),), members=(member(A),))
    ex, log = executor()
    with pytest.raises(EtcdClientError, match="no healthy member"):
        await ex.apply(nobody, PromoteLearner(IDS[A], A))


# --- adding and promoting ------------------------------------------------------------------------
ONE = observed(pods=(ip_pod(A, "10.0.0.1"),), members=(member(A),))


async def test_add_learner_registers_then_creates_pod_then_volume(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(naming, "new_member_name", lambda cluster: f"{cluster}-newmember0")
    new = "example-newmember0"
    url = f"https://{new}.example.default.svc:2380"
    ex, log = executor()
    assert await ex.apply(ONE, AddLearner(peers(A))) == Applied()
    assert [c[:3] for c in log.calls] == [
        ("member_add", (url,), True),
        ("create", "Pod", new),
        ("create", "PersistentVolumeClaim", new),
        ("event", "MemberAdded", f"learner {new} added"),
    ]
    command = " ".join(log.objects[f"Pod/{new}"]["spec"]["containers"][0]["command"])
    assert f"{A}=https://{A}." in command and f"{new}={url}" in command
    assert "--initial-cluster-state=existing" in command


@pytest.mark.parametrize("refusal", [UnhealthyCluster("x"), TooManyLearners("y")])
async def test_add_learner_refused_for_now_creates_nothing(refusal: Exception) -> None:
    ex, log = executor(etcd_error=refusal)
    outcome = await ex.apply(ONE, AddLearner(peers(A)))
    assert outcome == NotYet(str(refusal))
    assert log.kinds("create") == [] and log.kinds("event") == []


async def test_promote_not_in_sync_is_not_yet_and_success_is_an_event() -> None:
    ex, log = executor(etcd_error=LearnerNotReady("behind"))
    assert isinstance(await ex.apply(ONE, PromoteLearner(IDS[B], B)), NotYet)
    assert log.kinds("event") == []
    ex, log = executor()
    assert await ex.apply(ONE, PromoteLearner(IDS[B], B)) == Applied()
    assert log.calls[-1][:3] == ("event", "MemberPromoted", f"learner {B} is a voting member")


async def test_create_member_pod_then_volume() -> None:
    ex, log = executor()
    assert await ex.apply(ONE, CreateMemberPod(B, peers(A, B))) == Applied()
    assert [c[:3] for c in log.calls] == [
        ("create", "Pod", B),
        ("create", "PersistentVolumeClaim", B),
    ]


# --- bootstrap and plain creates -----------------------------------------------------------------
async def test_bootstrap_seed_is_alone_and_new_then_its_volume_then_an_event() -> None:
    ex, log = executor()
    assert await ex.apply(observed(), BootstrapSeed(A)) == Applied()
    assert [c[:3] for c in log.calls] == [
        ("create", "Pod", A),
        ("create", "PersistentVolumeClaim", A),
        ("event", "ClusterBootstrapped", f"seed member {A}"),
    ]
    assert log.calls[-1][3:] == ("Normal", "example")
    command = " ".join(log.objects[f"Pod/{A}"]["spec"]["containers"][0]["command"])
    assert f"--initial-cluster={A}=https://{A}.example.default.svc:2380" in command
    assert "--initial-cluster-state=new" in command


async def test_empty_dir_members_get_no_volume() -> None:
    no_pvc = observed(fields={"spec.pod.persistentVolumeClaimSpec": None})
    ex, log = executor()
    await ex.apply(no_pvc, BootstrapSeed(A))
    await ex.apply(no_pvc, CreateVolume(A))
    assert log.kinds("create") == ["Pod"]


async def test_services_and_volumes_by_kind() -> None:
    ex, log = executor()
    await ex.apply(ONE, CreateService("headless"))
    await ex.apply(ONE, CreateService("client"))
    await ex.apply(ONE, CreateVolume(B))
    assert [c[:3] for c in log.calls] == [
        ("create", "Service", "example"),
        ("create", "Service", "example-client"),
        ("create", "PersistentVolumeClaim", B),
    ]


async def test_create_conflict_and_terminating_namespace_are_done_others_raise() -> None:
    exists = ApiError(409, {"reason": "AlreadyExists", "message": "exists"})
    ex, _ = executor({("create", "Service"): exists})
    assert await ex.apply(ONE, CreateService("client")) == Applied()
    closing = ApiError(403, {"reason": "Forbidden", "message": "ns is being terminated"})
    ex, _ = executor({("create", "Service"): closing})
    assert await ex.apply(ONE, CreateService("client")) == Applied()
    for error in (
        ApiError(403, {"reason": "Forbidden", "message": "no RBAC"}),
        ApiError(422, {"reason": "Invalid", "message": "being terminated"}),
    ):
        ex, _ = executor({("create", "Service"): error})
        with pytest.raises(ApiError):
            await ex.apply(ONE, CreateService("client"))


@pytest.mark.parametrize(
    "report", [Steady(), Paused(), Wait(WaitReason.UNHEALTHY), BadSpec("X", "y")]
)
async def test_reports_touch_nothing(report: Any) -> None:
    ex, log = executor()
    assert await ex.apply(THREE, report) == Applied()
    assert log.calls == []


def test_cluster_ref_names_the_cluster() -> None:
    obs = observed(fields={"metadata.uid": "u-1", "metadata.resourceVersion": "7"})
    ref = cluster_ref(obs.cluster)
    assert (ref.kind, ref.name, ref.namespace, ref.uid, ref.resource_version) == (
        "EtcdCluster",
        "example",
        "default",
        "u-1",
        "7",
    )
    assert ref.api_version == "etcd.database.coreos.com/v1beta2"


def test_pod_helper_is_the_planner_tests() -> None:
    assert pod(A).ip  # the shared helper gives every pod an IP; ip_pod here chooses one


# --- healing, rolling and the disruption budget ---------------------------------------------------
class PatchingKube(FakeKube):
    async def patch(
        self, res: Resource, name: str, patch: Obj, namespace: str | None = None, **kw: Any
    ) -> Obj:
        self.log.calls.append(("patch", res.kind, name, namespace, patch))
        return patch


async def test_restart_member_recreates_its_pod_as_built_then_an_event() -> None:
    trusted = replace(ONE, tls=replace(ONE.tls, trust="ca-digest"))
    for force, flag in ((False, ""), (True, " with --force-new-cluster")):
        ex, log = executor()
        action = RestartMember(B, peers(A, B), force_new_cluster=force)
        assert await ex.apply(trusted, action) == Applied()
        assert [c[:3] for c in log.calls] == [
            ("create", "Pod", B),
            ("event", "MemberRestarted", f"pod of member {B} recreated{flag}"),
        ]
        built = resources.member_pod(
            trusted.cluster, B, peers(A, B), "existing", force, "ca-digest"
        )
        assert log.objects[f"Pod/{B}"] == built


async def test_stop_member_deletes_its_pod_and_says_why_when_rolling() -> None:
    ex, log = executor()
    await ex.apply(ONE, StopMember(B, "to etcd 3.7.3"))
    assert [c[:3] for c in log.calls] == [
        ("delete", "Pod", B),
        ("event", "MemberRolling", f"{B}: to etcd 3.7.3"),
    ]
    ex, log = executor()
    await ex.apply(ONE, StopMember(B))
    assert [c[:3] for c in log.calls] == [("delete", "Pod", B)]


async def test_move_leader_asks_the_leader_then_says_where() -> None:
    ex, log = executor()
    assert await ex.apply(THREE, MoveLeader(IDS[B], B)) == Applied()
    assert log.calls[0] == ("move_leader", IDS[B], "10.0.0.1:2379")
    assert log.calls[1][:3] == ("event", "LeaderMoved", f"leadership moved to {B}")


async def test_a_failed_pod_is_deleted_without_an_event() -> None:
    ex, log = executor()
    await ex.apply(ONE, DeleteFailedPod(B))
    assert [c[:4] for c in log.calls] == [("delete", "Pod", B, "default")]


async def test_the_disruption_budget_is_created_else_patched() -> None:
    log = Log()
    ex = fake_executor(PatchingKube(log), FakeEtcd(log), FakeEvents(log))
    await ex.apply(ONE, ApplyDisruptionBudget(2))
    assert log.calls == [("create", "PodDisruptionBudget", "example")]
    assert log.objects["PodDisruptionBudget/example"] == resources.disruption_budget(ONE.cluster, 2)
    log = Log()
    exists = ApiError(409, {"reason": "AlreadyExists", "message": "exists"})
    ex = fake_executor(
        PatchingKube(log, {("create", "PodDisruptionBudget"): exists}),
        FakeEtcd(log),
        FakeEvents(log),
    )
    await ex.apply(ONE, ApplyDisruptionBudget(3))
    assert log.calls[-1] == (
        "patch",
        "PodDisruptionBudget",
        "example",
        "default",
        {"spec": {"minAvailable": 3}},
    )
    log = Log()
    denied = ApiError(403, {"reason": "Forbidden", "message": "no RBAC"})
    ex = fake_executor(
        PatchingKube(log, {("create", "PodDisruptionBudget"): denied}),
        FakeEtcd(log),
        FakeEvents(log),
    )
    with pytest.raises(ApiError):
        await ex.apply(ONE, ApplyDisruptionBudget(3))


# --- what the pods are built with, and where each step may stop ----------------------------------
TRUSTED_ONE = replace(ONE, tls=replace(ONE.tls, trust="ca-digest"))


async def test_every_member_pod_is_built_with_the_trust_digest_and_its_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(naming, "new_member_name", lambda cluster: f"{cluster}-newmember0")
    new = "example-newmember0"
    url = f"https://{new}.example.default.svc:2380"
    ex, log = executor()
    await ex.apply(replace(observed(), tls=TRUSTED_ONE.tls), BootstrapSeed(A))
    await ex.apply(TRUSTED_ONE, CreateMemberPod(B, peers(A, B)))
    await ex.apply(TRUSTED_ONE, AddLearner(peers(A)))
    cluster = TRUSTED_ONE.cluster
    seed_url = f"https://{A}.example.default.svc:2380"
    assert log.objects[f"Pod/{A}"] == resources.member_pod(
        cluster, A, ((A, seed_url),), "new", trust="ca-digest"
    )
    assert log.objects[f"Pod/{B}"] == resources.member_pod(
        cluster, B, peers(A, B), "existing", trust="ca-digest"
    )
    assert log.objects[f"Pod/{new}"] == resources.member_pod(
        cluster, new, (*peers(A), (new, url)), "existing", trust="ca-digest"
    )


async def test_etcd_is_reached_with_the_operators_client_certificate() -> None:
    seen: list[Any] = []

    class Recording(FakeEtcd):
        async def client(self, endpoint: Any, tls: Any) -> FakeEtcdClient:
            seen.append(tls)
            return await super().client(endpoint, tls)

    log = Log()
    ex = fake_executor(FakeKube(log), Recording(log), FakeEvents(log))
    await ex.apply(ONE, PromoteLearner(IDS[B], B))
    assert seen == [ONE.tls.client] and seen[0] is not None


async def test_refusals_say_why() -> None:
    ex, _ = executor(etcd_error=LearnerNotReady("behind"))
    assert await ex.apply(ONE, PromoteLearner(IDS[B], B)) == NotYet(
        "learner not in sync with the leader"
    )
    nobody = observed(pods=(ip_pod(A, None),), members=(member(A),))
    ex, _ = executor()
    with pytest.raises(EtcdClientError, match=r"^no healthy member to send the change to$"):
        await ex.apply(nobody, PromoteLearner(IDS[A], A))


@pytest.mark.parametrize(
    ("point", "action", "done"),
    [
        ("after-member-restart", RestartMember(B, ()), [("create", "Pod")]),
        ("after-member-stop", StopMember(B, "roll"), [("delete", "Pod")]),
        ("after-leader-move", MoveLeader(IDS[B], B), [("move_leader", IDS[B])]),
    ],
)
async def test_each_step_has_its_named_fault_point(
    point: str, action: Any, done: list[tuple[Any, ...]]
) -> None:
    ex, log = executor()
    with injected({point: "error"}), pytest.raises(InjectedFault):
        await ex.apply(THREE, action)
    assert [c[:2] for c in log.calls] == done  # stopped before its event
