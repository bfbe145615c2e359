"""The simulated world: one EtcdCluster, its API objects, its etcd, and the operator's passes.

Events change the world the way time and the kubelet do (`start`, `kill`, `catch_up`,
`write`, `tick`, `transfer_leadership`, `resize`); `reconcile` is one operator pass, the
reconciler's own sequence: the real `observe` (over the simulated cache and etcd), `plan`,
and `Executor.apply`. A pass given a fault point raises InjectedFault there, which is the
operator process dying mid-action: the world keeps whatever was done before the point.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from api import EtcdCluster
from controller.clients.etcd import EtcdClientError
from controller.common.resources import PODS
from controller.etcdcluster import naming
from controller.etcdcluster.executor import Etcd, Executor, Outcome
from controller.etcdcluster.observe import Observed, observe, secret_names
from controller.etcdcluster.planner import (
    Action,
    AddLearner,
    BootstrapSeed,
    CreateMemberPod,
    PromoteLearner,
    RemoveMember,
    Steady,
    plan,
)
from controller.etcdcluster.status import desired_status
from controller.runtime import faults
from controller.runtime.cache import Cache
from controller.runtime.events import ObjectRef
from tests.seed import CLUSTER, DELETE, Doc, load_seed, set_field
from tests.sim.etcd import EtcdState, SimEtcd, quorum
from tests.sim.kube import SimCache, SimKube, SimPod, tls_secrets
from tests.sim.safety import Safety

NAMESPACE = "default"
FAULT_POINTS = (
    "before-member-add",
    "after-member-add",
    "after-seed-pod-create",
    "after-pod-create",
    "after-member-promote",
    "after-member-remove",
    "after-pod-delete",
)
# Where each action's steps can be interrupted (the fault points the executor passes).
FAULT_POINTS_OF: dict[type, tuple[str, ...]] = {
    BootstrapSeed: ("after-seed-pod-create",),
    AddLearner: ("before-member-add", "after-member-add", "after-pod-create"),
    CreateMemberPod: ("after-pod-create",),
    PromoteLearner: ("after-member-promote",),
    RemoveMember: ("after-member-remove", "after-pod-delete"),
}
INITIAL_VERSION, UPGRADED_VERSION = "3.6.16", "3.7.3"
HEALTH_INTERVAL = timedelta(seconds=5)  # etcd's: how long a voter must be connected


@functools.cache
def _seed_cluster() -> Doc:
    return load_seed(CLUSTER)


def make_cluster(size: int, pvc: bool) -> EtcdCluster:
    """The seed's cluster (TLS; PVC members unless `pvc` is false) at `size` members."""
    doc = copy.deepcopy(_seed_cluster())
    set_field(doc, "metadata.namespace", NAMESPACE)
    set_field(doc, "metadata.uid", "0f6c3a52-sim")
    set_field(doc, "spec.size", size)
    set_field(doc, "spec.version", INITIAL_VERSION)
    if not pvc:
        set_field(doc, "spec.pod.persistentVolumeClaimSpec", DELETE)
    return EtcdCluster.model_validate(doc)


class SimEvents:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str]] = []  # (reason, message)

    async def record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        self.recorded.append((reason, message))


class World:
    def __init__(self, size: int = 1, pvc: bool = True, seed: int = 0):
        self.pvc = pvc
        self.cluster = make_cluster(size, pvc)
        self.now = datetime(2026, 11, 30, tzinfo=UTC)
        self.journal: list[tuple[str, str]] = []  # accepted changes, in order
        self.etcd = EtcdState()
        self.safety = Safety(self.etcd)
        self.kube = SimKube(self.journal, self.safety.before_pod_create, self.kill)
        self.safety.kube = self.kube
        self.etcd_api = SimEtcd(self.etcd, self.kube, self.safety, self.journal)
        self.events = SimEvents()
        secrets = tls_secrets(NAMESPACE, secret_names(self.cluster))
        self.cache = SimCache(self.kube, self.ready, secrets)
        # Duck-typed: the simulation has the methods observe and the executor call.
        self.executor = Executor(self.kube, cast(Etcd, self.etcd_api), self.events)
        self._names = random.Random(seed)
        self._ips = 0
        self._lagging = 0  # passes left on a frozen cache
        self.passes: list[str] = []  # the reason of each pass's action, with its fate
        self.crashes = 0

    @property
    def violations(self) -> list[str]:
        return self.safety.violations

    @property
    def size(self) -> int:
        return self.cluster.spec.size

    # What the kubelet and time do.

    def pods(self) -> list[SimPod]:
        return sorted(self.kube.pods.values(), key=lambda p: p.name)

    def ready(self, pod: SimPod) -> bool:
        """/readyz: a running voting member of a cluster with quorum."""
        member = self.etcd.served_by(pod.name) if pod.running else None
        return member is not None and not member.learner and self.etcd.has_quorum()

    def start(self, pod: SimPod) -> None:
        """The kubelet (re)starts the pod's etcd process, once its volume exists. (A removed
        member's process exits at once: its pod shows CrashLoopBackOff.)"""
        data = self.kube.data_dir(pod)
        if pod.running or pod.terminating or pod.evicted or data is None:
            return
        if pod.ip is None:
            self._ips += 1
            pod.ip = f"10.213.{self._ips // 250}.{self._ips % 250 + 2}"
        self.safety.before_boot(pod, data)
        pod.crash_loop = self.etcd.boot(pod, data)
        pod.running = pod.crash_loop is None

    def start_all(self) -> None:
        for pod in self.pods():
            self.start(pod)

    def kill(self, pod: SimPod) -> None:
        """The pod's etcd process dies (the kubelet restarts it at a later `start`)."""
        if pod.running:
            pod.running = False
            self.etcd.stop(pod.name)

    def delete(self, pod: SimPod, survivable: bool = True) -> None:
        """Someone else deletes the pod (kubectl, a node drain); its PVC stays. Only if
        etcd survives it, unless `survivable` is false."""
        if not pod.terminating and (not survivable or self._survivable(pod)):
            pod.terminating = True
            self.kill(pod)

    def evict(self, pod: SimPod) -> None:
        """The kubelet evicts the pod: phase Failed for good, its emptyDir removed."""
        if not pod.terminating and not pod.evicted and self._survivable(pod):
            pod.evicted = True
            self.kill(pod)
            pod.empty_dir.destroy()

    def lose_volume(self, pod: SimPod, passes: int) -> None:
        """The pod's disk is lost: its PVC and its pod are deleted (the PVC goes once the pod
        has), and the operator's watch of pods lags the one of PVCs for `passes` passes: its
        cache shows the pod running without a volume. Only while a quorum of voters keeps its
        data (else it is disaster recovery)."""
        pvc = self.kube.pvcs.get(pod.claim) if pod.claim else None
        if pvc is None or pod.terminating or not self._quorum_keeps_data(without=pod):
            return
        if not self._lagging:  # an informer already behind on every kind stays so
            self.cache.freeze(kinds=(PODS,))
        self._lagging = max(self._lagging, passes)
        pvc.terminating = True
        self.delete(pod)
        self.kube.reap(pods=True)

    def restart_all(self, survivable: bool = True) -> None:
        """Every pod is deleted at once (nodes rebooted), as far as etcd survives it unless
        `survivable` is false."""
        for pod in self.pods():
            self.delete(pod, survivable)

    def _survivable(self, pod: SimPod) -> bool:
        """Losing the pod leaves the data of a quorum of voters. Always so on PVCs; with
        emptyDir the pod's data goes with it, and an etcd that lost a majority of its
        members' data needs disaster recovery (a backup): not what these tests are about."""
        return self.pvc or self._quorum_keeps_data(without=pod)

    def _quorum_keeps_data(self, without: SimPod) -> bool:
        """The pods other than `without` still up hold the data of a quorum of voters."""
        kept = {
            data.member_id
            for p in self.kube.pods.values()
            if p is not without and not p.terminating and not p.evicted
            if (data := self.kube.data_dir(p)) is not None
        }
        voters = self.etcd.voters
        return sum(m.id in kept for m in voters) >= quorum(len(voters))

    def catch_up(self) -> None:
        """Learners (and lagging voters) receive the leader's log."""
        self.etcd.replicate(learners=True)

    def write(self, lagging: int | None = None) -> None:
        self.etcd.write(lagging)

    def transfer_leadership(self, index: int) -> None:
        self.etcd.transfer_leadership(index)

    def tick(self) -> None:
        """A health interval passes: terminating pods are gone, voters replicate, and every
        running voter counts as connected."""
        self.now += HEALTH_INTERVAL
        self.kube.reap(pods=True)
        self.etcd.replicate(learners=False)
        for member in self.etcd.members.values():
            member.proven = member.up

    def lag(self, passes: int) -> None:
        """The operator's cache stops following the API for the next `passes` passes."""
        self.cache.freeze()
        self._lagging = passes

    def settle(self) -> None:
        """Between two passes of a calm world: every process that can start does, learners
        catch up, a health interval passes."""
        self.start_all()
        self.catch_up()
        self.tick()

    def resize(self, size: int) -> None:
        self._edit_spec(size=size)

    def change_pod_policy(self, revision: int) -> None:
        """The user edits spec.pod (a label): every member is rolled to the new template."""
        pod = self.cluster.spec.pod
        self._edit_spec(pod=pod.model_copy(update={"labels": {**pod.labels, "rev": str(revision)}}))

    def upgrade(self) -> None:
        """The user asks for the next minor version (the only step etcd allows)."""
        if self.cluster.spec.etcd_version == INITIAL_VERSION:
            self._edit_spec(version=UPGRADED_VERSION)

    def _edit_spec(self, **fields: Any) -> None:
        spec = self.cluster.spec.model_copy(update=fields)
        self.cluster = self.cluster.model_copy(update={"spec": spec})

    # The operator.

    def reseed(self, seed: int) -> None:
        """Names of members added from now on come from `seed`."""
        self._names.seed(seed)

    def new_member_name(self, cluster: str) -> str:
        """naming.new_member_name from the world's seed: runs replay exactly."""
        alphabet = naming.SUFFIX_ALPHABET
        suffix = "".join(self._names.choice(alphabet) for _ in range(naming.SUFFIX_LENGTH))
        return f"{cluster}-{suffix}"

    @contextlib.contextmanager
    def _own_names(self) -> Iterator[None]:
        """New members are named by `new_member_name` (a plain swap: mock.patch would cost
        more than a whole pass)."""
        original = naming.new_member_name
        naming.new_member_name = self.new_member_name
        try:
            yield
        finally:
            naming.new_member_name = original

    async def observe(self) -> Observed:
        return await observe(self.cluster, cast(Cache, self.cache), cast(Any, self.etcd_api))

    async def reconcile(self, fault: str | None = None, crash: int | None = None) -> Action:
        """One operator pass. With `fault`, the operator dies at that point if it gets there;
        with `crash`, at the crash-th (modulo) of the points its action passes, if any."""
        observed = await self.observe()
        if self._lagging:
            self._lagging -= 1
            if not self._lagging:
                self.cache.thaw()
        action = plan(observed, self.now)
        points = FAULT_POINTS_OF.get(type(action), ())
        if crash is not None and points:
            fault = points[crash % len(points)]
        fate = ""
        with self._own_names(), faults.injected({fault: "error"} if fault else {}):
            try:
                outcome: Outcome = await self.executor.apply(observed, action)
                fate = type(outcome).__name__
                self._write_status(observed, action)  # as the reconciler: after applying
            except faults.InjectedFault:
                self.crashes += 1
                fate = f"crashed at {fault}"
            except EtcdClientError as exc:  # a failed pass: the work queue retries it
                fate = f"failed: {exc}"
        self.passes.append(f"{action.reason}: {fate}")
        self.safety.check_world()
        return action

    def _write_status(self, observed: Observed, action: Action) -> None:
        """The planner reads the status it wrote (e.g. whether members ever existed)."""
        status = desired_status(observed, action, self.cluster.status, self.now)
        self.cluster = self.cluster.model_copy(update={"status": status})

    async def converge(self, passes: int = 80) -> Action:
        """Processes start, learners catch up and time passes between passes, with no
        faults and a cache that follows, until the planner reports Steady (or `passes`
        run out)."""
        self.cache.thaw()
        self._lagging = 0
        action: Action | None = None
        for _ in range(passes):
            self.settle()
            action = await self.reconcile()
            if isinstance(action, Steady):
                break
        assert action is not None
        return action

    async def crash_at(self, fault: str, passes: int = 40) -> Action:
        """Passes as in `converge`, each dying at `fault`, until one gets there: the action
        that crashed."""
        for _ in range(passes):
            self.settle()
            crashes = self.crashes
            action = await self.reconcile(fault=fault)
            if self.crashes > crashes:
                return action
        raise AssertionError(f"no pass reached {fault}: {self.passes[-8:]}")
