"""One bound pod, from sandbox to deletion: the kubelet's pod worker, in small.

Lifecycle: sandbox (IP, network namespace, resolv.conf/hosts) → volumes → init containers in
order → main containers (one `ContainerRunner` each) → once nothing will run again, the sandbox
goes (phase Succeeded/Failed stays). When the pod gets a deletionTimestamp the containers are
stopped within its grace period, the sandbox and volumes are removed, and the pod object is
deleted with gracePeriodSeconds=0, as a kubelet finalises. Status is recomputed whenever a
record changes and written only when it differs (statussync.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from typing import TYPE_CHECKING, Any

from controller.clients.kube import PODS, ApiError, Resource
from nodeagent import netns
from nodeagent import sandbox as sandboxes
from nodeagent.backoff import Backoff
from nodeagent.containers import ContainerRunner
from nodeagent.downward import PodFacts
from nodeagent.launchspec import ConfigError
from nodeagent.probes import ProbeTarget, parse_probe, run_probe
from nodeagent.sandbox import Sandbox
from nodeagent.status import TERMINAL, ContainerRecord, PodView, pod_phase, rfc3339
from nodeagent.statussync import StatusSync, seed_record
from nodeagent.volumes import PodVolumes, Volume, VolumeNotReady

if TYPE_CHECKING:
    from nodeagent.node import Node

log = logging.getLogger(__name__)
Obj = dict[str, Any]
DEFAULT_GRACE = 30.0
MIN_VANISHED_GRACE = 2.0
VOLUME_REFRESH = 60.0


class PodWorker:
    def __init__(self, node: Node, pod: Obj):
        """Synchronous on purpose: the node creates the workers of a whole pod list before any
        of them allocates a new IP, so pods coming back after an agent restart get theirs."""
        self.node = node
        self.ctx = node.ctx
        self.events = node.events
        self.pod = pod
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.key = f"{meta['namespace']}/{meta['name']}"
        self.pod_dir = self.ctx.paths.pod_dir(self.uid)
        self.log_dir = self.ctx.paths.pod_log_dir(meta["namespace"], meta["name"], self.uid)
        self.backoff = Backoff()
        self.sandbox: Sandbox | None = None
        self.pod_volumes: PodVolumes | None = None
        self.volumes: dict[str, Volume] = {}
        self.view = PodView(host_ip=node.host_ip, start_time=rfc3339())
        spec = pod["spec"]
        has_inits = bool(spec.get("initContainers"))
        inits = spec.get("initContainers") or []
        self.inits = [seed_record(c, pod, True, "PodInitializing") for c in inits]
        default = "PodInitializing" if has_inits else "ContainerCreating"
        self.mains = [seed_record(c, pod, False, default) for c in spec.get("containers") or []]
        self.runners: dict[str, ContainerRunner] = {}
        self._runner_tasks: list[asyncio.Task[int | None]] = []
        self._deleting = asyncio.Event()
        self._vanished = False
        self.status = StatusSync(self)
        self._ip: str | None = None
        self._netns: str | None = None  # known before its creation starts, for the teardown
        previous_ip = (pod.get("status") or {}).get("podIP")
        phase = (pod.get("status") or {}).get("phase")
        if previous_ip and not self.host_network and phase not in TERMINAL:
            self._ip = node.ipam.allocate(previous_ip)

    # --- facts other modules read --------------------------------------------------------

    @property
    def host_network(self) -> bool:
        return bool(self.pod["spec"].get("hostNetwork"))

    @property
    def sandbox_ip(self) -> str:
        return self.view.pod_ip

    @property
    def facts(self) -> PodFacts:
        return PodFacts(pod_ip=self.view.pod_ip, host_ip=self.node.host_ip)

    def records_restart(self, name: str) -> int:
        for rec in self.inits + self.mains:
            if rec.name == name:
                return rec.restart_count
        return 0

    def termination_grace(self) -> float:
        meta, spec = self.pod["metadata"], self.pod["spec"]
        if meta.get("deletionGracePeriodSeconds") is not None:
            return float(meta["deletionGracePeriodSeconds"])
        value = spec.get("terminationGracePeriodSeconds")
        return DEFAULT_GRACE if value is None else float(value)

    def notify(self) -> None:
        self.status.notify()

    async def get_object(self, res: Resource, name: str) -> Obj | None:
        try:
            return await self.ctx.kube.get(res, name, self.pod["metadata"]["namespace"])
        except ApiError as exc:
            if exc.not_found:
                return None
            message = f"reading {res.kind} {name}: {exc}"
            raise ConfigError("CreateContainerConfigError", message) from exc

    # --- events from the node ------------------------------------------------------------

    def update(self, pod: Obj) -> None:
        self.pod = pod
        specs = {
            c["name"]: c
            for c in (pod["spec"].get("initContainers") or [])
            + (pod["spec"].get("containers") or [])
        }
        for name, runner in self.runners.items():
            if name in specs and not self._deleting.is_set():
                runner.spec_changed(specs[name])
        if pod["metadata"].get("deletionTimestamp"):
            self._deleting.set()
        self.notify()

    def vanished(self) -> None:
        """The pod object is gone from the API: stop everything, delete nothing."""
        self._vanished = True
        self._deleting.set()

    # --- the worker ----------------------------------------------------------------------

    async def run(self) -> None:
        """Until the pod is deleted (or vanished) and cleaned up; cancelled on agent shutdown."""
        status_task = asyncio.create_task(self.status.run())
        life = asyncio.create_task(self._lifecycle())
        life.add_done_callback(self._log_failure)
        refresh = asyncio.create_task(self._refresh_volumes())
        try:
            await self._deleting.wait()
            life.cancel()
            refresh.cancel()
            await asyncio.wait([life, refresh])
            grace = self.termination_grace()
            if self._vanished:
                grace = min(grace, MIN_VANISHED_GRACE)
            await self.stop_containers(grace)
            await self._remove_sandbox()
            self.view.terminal_phase = self.view.terminal_phase or self._final_phase()
            if not self._vanished:
                await self.status.write()
                await self._delete_object()
            if self.pod_volumes is not None:
                self.pod_volumes.remove()
            shutil.rmtree(self.pod_dir, ignore_errors=True)
            shutil.rmtree(self.log_dir, ignore_errors=True)
            log.info("pod %s (%s) finished", self.key, self.uid)
        finally:
            for task in (status_task, life, refresh):
                task.cancel()

    def _log_failure(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("pod %s: lifecycle failed", self.key, exc_info=task.exception())

    async def shutdown(self, cap: float) -> None:
        """Agent shutdown: stop the processes and the sandbox, keep the pod and its data."""
        await self.stop_containers(min(self.termination_grace(), cap))
        with contextlib.suppress(Exception):
            await self._remove_sandbox()

    def _final_phase(self) -> str:
        return pod_phase(self.pod["spec"], self.inits, self.mains, terminal=True)

    async def _lifecycle(self) -> None:
        phase = self.pod.get("status", {}).get("phase")
        if phase in TERMINAL:
            self.view.terminal_phase = phase  # finished before an agent restart: nothing runs
            return
        await self._create_sandbox()
        await self._prepare_volumes()
        if not await self._run_init_containers():
            self.view.terminal_phase = "Failed"
            self.notify()
            await self._remove_sandbox()
            return
        mains = []
        for spec in self.pod["spec"].get("containers") or []:
            record = self._record(spec["name"], self.mains)
            if not self._finished_before(record):
                mains.append(self._start_runner(spec, record, init=False))
        if mains:
            await asyncio.wait(mains)
        # Nothing will run again (restartPolicy Never/OnFailure): the sandbox goes.
        self.view.terminal_phase = self._final_phase()
        self.notify()
        log.info("pod %s is %s", self.key, self.view.terminal_phase)
        await self.stop_containers(self.termination_grace())  # sidecars
        await self._remove_sandbox()

    async def _create_sandbox(self) -> None:
        delay = 1.0
        while True:
            try:
                if self._ip is None:
                    self._ip = self.node.ipam.allocate()
                if not self.host_network:
                    self._netns = sandboxes.netns_name(self.ctx.config, self.node.index, self.uid)
                self.sandbox = await sandboxes.create(
                    self.pod,
                    self.ctx.config,
                    self.node.index,
                    self._ip,
                    self.pod_dir,
                    self.node.host_ip,
                )
                self.view.sandbox_ready = True
                self.view.pod_ip = self.sandbox.ip
                self.notify()
                return
            except Exception as exc:  # retried: the network may be briefly unavailable
                message = f"Failed to create pod sandbox: {exc}"
                log.warning("pod %s: %s", self.key, message)
                self._all_waiting("ContainerCreating", message)
                self.events.pod_event(self.pod, "Warning", "FailedCreatePodSandBox", message)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _prepare_volumes(self) -> None:
        self.pod_volumes = PodVolumes(
            self.ctx.kube, self.pod, self.pod_dir, self.facts, self.ctx.node_allocatable
        )
        delay = 1.0
        while True:
            try:
                self.volumes = await self.pod_volumes.prepare()
                return
            except (VolumeNotReady, OSError) as exc:
                message = f"MountVolume.SetUp failed: {exc}"
                self._all_waiting("ContainerCreating", message)
                self.events.pod_event(self.pod, "Warning", "FailedMount", message)
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 10.0)

    async def _refresh_volumes(self) -> None:
        while True:
            await asyncio.sleep(VOLUME_REFRESH)
            if self.pod_volumes is not None and self.volumes:
                self.pod_volumes.pod = self.pod
                await self.pod_volumes.refresh()

    async def _run_init_containers(self) -> bool:
        for spec in self.pod["spec"].get("initContainers") or []:
            record = self._record(spec["name"], self.inits)
            if record.state == "terminated" and record.exit_code == 0:
                continue  # completed before an agent restart
            task = self._start_runner(spec, record, init=True)
            if spec.get("restartPolicy") == "Always":  # a sidecar: next one once it started
                await self._wait_started(spec["name"], task)
                continue
            await asyncio.wait([task])
            if task.result() != 0:
                return False
        return True

    async def _wait_started(self, name: str, task: asyncio.Task[int | None]) -> None:
        started = asyncio.create_task(self.runners[name].started.wait())
        await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
        started.cancel()

    def _start_runner(
        self, spec: Obj, record: ContainerRecord, init: bool
    ) -> asyncio.Task[int | None]:
        runner = ContainerRunner(self, spec, record, init)
        self.runners[spec["name"]] = runner
        task = asyncio.create_task(runner.run(), name=spec["name"])
        self._runner_tasks.append(task)
        return task

    async def stop_containers(self, grace: float) -> None:
        """Stops every container within `grace` (shortened if the deletion's grace shrinks)."""
        if not self.runners:
            return
        deadline = time.monotonic() + grace
        stops = [asyncio.create_task(r.stop(grace)) for r in self.runners.values()]
        while True:
            _, pending = await asyncio.wait(stops, timeout=0.5)
            if not pending:
                break
            started = deadline - grace
            if time.monotonic() > min(deadline, started + self.termination_grace()):
                for runner in self.runners.values():
                    runner.kill_now()
        await asyncio.wait(self._runner_tasks, timeout=10)

    async def run_pre_stop(self, runner: ContainerRunner, grace: float) -> None:
        """The container's preStop hook, if any, within the grace period."""
        hook = ((runner.spec.get("lifecycle") or {}).get("preStop")) or {}
        if not hook or runner.proc is None or grace <= 0:
            return
        if "sleep" in hook:
            await asyncio.sleep(min(float(hook["sleep"].get("seconds", 0)), grace))
            return
        probe = parse_probe({**hook, "timeoutSeconds": max(1, int(grace))})
        if probe is None or runner.plan is None:
            return
        argv = runner.plan.resolve_exec(list(hook["exec"]["command"])) if "exec" in hook else []
        target = ProbeTarget(
            runner.proc.pid, self.sandbox_ip, {}, runner.plan.env, argv, runner.plan.cwd
        )
        ok, message = await run_probe(probe, target)
        if not ok:
            self.events.pod_event(self.pod, "Warning", "FailedPreStopHook", message)

    async def _remove_sandbox(self) -> None:
        if self.sandbox is not None:
            await sandboxes.destroy(self.sandbox)
            self.sandbox = None
        elif self._netns is not None:  # creation was interrupted half-way
            await netns.teardown_pod_network(self._netns)
        self._netns = None
        self.view.sandbox_ready = False
        if self._ip is not None:
            self.node.ipam.release(self._ip)
            self._ip = None
        self.notify()

    async def _delete_object(self) -> None:
        meta = self.pod["metadata"]
        try:
            await self.ctx.kube.delete(
                PODS,
                meta["name"],
                meta["namespace"],
                grace_period_seconds=0,
                preconditions={"uid": self.uid},
            )
        except ApiError as exc:
            if not (exc.not_found or exc.conflict):
                log.warning("pod %s: deleting: %s", self.key, exc)

    # --- status --------------------------------------------------------------------------

    def _finished_before(self, record: ContainerRecord) -> bool:
        """Terminated before an agent restart, and the restartPolicy keeps it so."""
        if record.state != "terminated":
            return False
        policy = self.pod["spec"].get("restartPolicy") or "Always"
        return policy == "Never" or (policy == "OnFailure" and record.exit_code == 0)

    def _record(self, name: str, records: list[ContainerRecord]) -> ContainerRecord:
        return next(r for r in records if r.name == name)

    def _all_waiting(self, reason: str, message: str) -> None:
        for rec in self.inits + self.mains:
            if rec.state == "waiting" and not rec.has_failed_before:
                rec.waiting(reason, message)
        self.notify()
