"""spec.maintenance for the EtcdCluster reconciler: defragmentation and NOSPACE recovery as
supervised long work (controller.etcdcluster.maintenance has the rules and the runner).

After a pass whose action was Steady (nothing else is changing the cluster), the maintenance
planner looks at that pass's etcd view; when it has a step, `run_maintenance` starts as a
task (never on a queue worker) and applies steps one at a time until there is nothing left
to do. While it runs the reconciler leaves the cluster alone — a member being defragmented
answers nothing, which is not a fault to heal — and looks again when the task ends (its end
enqueues the cluster). The next pass then posts an Event per step done (Defragmented,
Compacted, AlarmDisarmed) and a Warning when the run failed or the data does not fit.

When the last defragmentation round ended is kept in memory: an operator restart allows one
early round, nothing worse.
"""

from __future__ import annotations

from controller.clients.etcd import EtcdPool
from controller.etcdcluster.actions import Action, Steady
from controller.etcdcluster.maintenance import (
    CHECK_INTERVAL,
    NO_SPACE_BLOCKED,
    Nothing,
    plan,
    state_from,
)
from controller.etcdcluster.maintenance_runner import MaintenanceReport, run_maintenance
from controller.etcdcluster.observe import Observed, endpoint_of
from controller.runtime.clock import Clock, RealClock
from controller.runtime.events import NORMAL, WARNING
from controller.runtime.tasks import EnsureTask, Tasks, TaskState, TaskStatus


def task_key(key: str) -> str:
    return f"etcdcluster-maintenance/{key}"


class Maintainer:
    def __init__(self, tasks: Tasks, pool: EtcdPool, clock: Clock | None = None):
        self.tasks = tasks
        self.pool = pool
        self.clock = clock or RealClock()
        self.ensure_task: EnsureTask | None = None  # set by setup() once the controller exists
        self._last_round: dict[str, float] = {}

    def running(self, key: str) -> bool:
        status = self.tasks.get(task_key(key))
        return status is not None and status.running

    def ended(self, key: str) -> TaskStatus | None:
        """The run that ended since the last pass (forgotten once returned)."""
        status = self.tasks.get(task_key(key))
        if status is None or status.running:
            return None
        self.tasks.forget(task_key(key))
        report = status.result
        if isinstance(report, MaintenanceReport) and report.defragmented:
            self._last_round[key] = report.finished
        return status

    def start_if_due(self, key: str, obs: Observed, action: Action) -> float | None:
        """After a pass: starts a run when the planner has a step; else the seconds after
        which it is worth looking again (fragmentation and alarms raise no Kubernetes
        event), or None when maintenance is off."""
        policy = obs.cluster.spec.maintenance
        if policy is None or obs.etcd is None:
            return None
        if not isinstance(action, Steady):
            return CHECK_INTERVAL
        now = self.clock.now()
        state = state_from((v.member, v.status) for v in obs.etcd.members)
        step = plan(state, policy, now=now, last_round=self._last_round.get(key))
        if isinstance(step, Nothing):
            return CHECK_INTERVAL if step.retry_at is None else max(step.retry_at - now, 0.5)
        endpoints = [endpoint_of(obs, p) for p in obs.live_pods if p.ip]
        last_round, tls = self._last_round.get(key), obs.tls.client
        assert self.ensure_task is not None

        async def work() -> MaintenanceReport:
            return await run_maintenance(
                self.pool, endpoints, tls, policy, last_round=last_round, clock=self.clock
            )

        self.ensure_task(task_key(key), key, work)
        return None


def report_events(status: TaskStatus) -> list[tuple[str, str, str]]:
    """(type, reason, message) for what an ended run did and why it stopped badly."""
    report = status.result
    if status.state is not TaskState.SUCCEEDED or not isinstance(report, MaintenanceReport):
        return [(WARNING, "MaintenanceFailed", status.error or str(status.state))]
    events = [(NORMAL, done.reason, done.message) for done in report.done]
    if report.error is not None:
        events.append((WARNING, "MaintenanceFailed", report.error))
    if report.outcome is not None and report.outcome.reason == NO_SPACE_BLOCKED:
        events.append((WARNING, NO_SPACE_BLOCKED, report.outcome.message))
    return events
