"""One container of a pod: resolve its image and config, run it, probe it, restart it, stop it.

A `ContainerRunner` owns its `ContainerRecord` (what the status reports) and loops:
prepare → start the launcher → wait for the exit → decide by restartPolicy → back off. The
process runs as its own process group; when its main process exits the rest of the group is
killed, as a container runtime kills a container's remaining processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nodeagent.backoff import Backoff
from nodeagent.command import CommandError
from nodeagent.images import ImagePullError
from nodeagent.launchspec import ConfigError, LaunchPlan, build_plan
from nodeagent.logread import termination_message
from nodeagent.logs import LogFile, log_path, pump
from nodeagent.probes import ProbeSpec, ProbeTarget, ProbeTracker, parse_probe, run_probe
from nodeagent.procs import signal_group
from nodeagent.status import ContainerRecord, rfc3339

if TYPE_CHECKING:
    from nodeagent.podworker import PodWorker

log = logging.getLogger(__name__)
Obj = dict[str, Any]
ERR_IMAGE_PULL_SHOWN = 5.0  # seconds ErrImagePull shows before ImagePullBackOff
CONFIG_RETRY = 5.0
LOG_FALLBACK = "FallbackToLogsOnError"  # terminationMessagePolicy: the log's end on failure


class ContainerRunner:
    def __init__(self, worker: PodWorker, spec: Obj, record: ContainerRecord, init: bool):
        self.worker = worker
        self.spec = spec
        self.record = record
        self.init = init
        self.proc: asyncio.subprocess.Process | None = None
        self.plan: LaunchPlan | None = None
        self.stopping = False
        self._wake = asyncio.Event()
        self._restart_forced = False
        self._kill_message = ""
        self._pull_backoff = Backoff()
        self.started = asyncio.Event()
        self._probe_tasks: list[asyncio.Task[None]] = []
        self._kill_task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def field_path(self) -> str:
        kind = "initContainers" if self.init else "containers"
        return f"spec.{kind}{{{self.name}}}"

    def _event(self, kind: str, reason: str, message: str) -> None:
        self.worker.events.pod_event(self.worker.pod, kind, reason, message, self.field_path)

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> int | None:
        """Runs until no restart is due (→ last exit code) or the runner is stopped (→ None)."""
        while not self.stopping:
            plan = await self._prepare()
            if plan is None:
                continue
            exit_code = await self._run_once(plan)
            if self.stopping:
                return exit_code
            if not self._should_restart(exit_code):
                return exit_code
            await self._back_off()
        return None

    def _should_restart(self, exit_code: int) -> bool:
        if self._restart_forced:
            self._restart_forced = False
            return True
        policy = self.worker.pod["spec"].get("restartPolicy") or "Always"
        if self.init and self.spec.get("restartPolicy") != "Always":
            return exit_code != 0 and policy != "Never"
        if self.init or policy == "Always":
            return True
        return policy == "OnFailure" and exit_code != 0

    async def _back_off(self) -> None:
        backoff: Backoff = self.worker.backoff
        now = time.time()
        delay = backoff.delay(self.name, now, now)
        self.record.retire()
        if delay > 0:
            meta = self.worker.pod["metadata"]
            window = int(backoff.window(self.name))
            self.record.waiting(
                "CrashLoopBackOff",
                f"back-off {window}s restarting failed container={self.name}"
                f" pod={meta['name']}_{meta['namespace']}({meta['uid']})",
            )
            self.worker.notify()
            self._event(
                "Warning",
                "BackOff",
                "Back-off restarting failed container "
                f"{self.name} in pod {meta['name']}_{meta['namespace']}({meta['uid']})",
            )
            await self._sleep(delay)
        backoff.next(self.name, time.time())
        self.record.restart_count += 1

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    # --- preparing a start ---------------------------------------------------------------

    async def _prepare(self) -> LaunchPlan | None:
        """The launch plan, or None after putting the container in a waiting state a while."""
        image = self.spec.get("image", "")
        try:
            resolved = self.worker.ctx.images.resolve(image)
        except ImagePullError as exc:
            msg = f'failed to pull image "{image}": {exc}'
            self.record.waiting("ErrImagePull", msg)
            self.worker.notify()
            self._event("Warning", "Failed", f'Failed to pull image "{image}": {exc}')
            await self._sleep(ERR_IMAGE_PULL_SHOWN)
            if self.stopping:
                return None
            self.record.waiting("ImagePullBackOff", f'Back-off pulling image "{image}"')
            self.worker.notify()
            wait = self._pull_backoff.next("pull", time.time())
            await self._sleep(max(0.0, wait - ERR_IMAGE_PULL_SHOWN))
            return None
        try:
            return await build_plan(self.worker, self.spec, resolved)
        except ConfigError as exc:
            self.record.waiting(exc.reason, str(exc))
            self.worker.notify()
            self._event("Warning", "Failed", f"Error: {exc}")
            await self._sleep(CONFIG_RETRY)
            return None

    # --- one run -------------------------------------------------------------------------

    async def _run_once(self, plan: LaunchPlan) -> int:
        ctx, worker = self.worker.ctx, self.worker
        logfile = LogFile(log_path(worker.log_dir, self.name, self.record.restart_count))
        container_id = "nodeagent://" + uuid.uuid4().hex + uuid.uuid4().hex
        self.record.container_id = container_id
        self.record.image_id = plan.image_id
        self.plan = plan
        self._kill_message = ""
        if plan.start_error:
            return self._start_failed(logfile, plan.start_error)
        spec_path = plan.write()
        read_end, write_end = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-S",
                str(ctx.launcher),
                str(spec_path),
                str(write_end),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(write_end,),
                start_new_session=True,
            )
        finally:
            os.close(write_end)
        ctx.procs.add(proc.pid, worker.uid, self.name, worker.key)
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [
            asyncio.create_task(pump(proc.stdout, logfile, "stdout")),
            asyncio.create_task(pump(proc.stderr, logfile, "stderr")),
        ]
        failure = (await asyncio.to_thread(_read_to_eof, read_end)).decode(errors="replace")
        spec_path.unlink(missing_ok=True)  # it holds env values, maybe secrets
        self.proc = proc
        if failure:
            await proc.wait()
            await self._reap(proc, pumps)
            return self._start_failed(logfile, failure)
        self.record.running(container_id, rfc3339())
        self.started.clear()
        probes = self._probes()
        if "startup" not in probes:
            self._mark_started()
        self.worker.notify()
        self._event("Normal", "Started", f"Started container {self.name}")
        self._start_probes(probes, plan, proc.pid)
        if self.stopping:
            await self._terminate(self.worker.termination_grace(), "")
        rc = await proc.wait()
        finished = rfc3339()
        await self._reap(proc, pumps)
        logfile.close()
        exit_code = rc if rc >= 0 else 128 - rc
        reason = "Completed" if exit_code == 0 else "Error"
        message = self._kill_message
        if exit_code and not message and self.spec.get("terminationMessagePolicy") == LOG_FALLBACK:
            message = termination_message(logfile.path)
        self.record.terminated(exit_code, reason, finished, message)
        self.worker.notify()
        return exit_code

    def _start_failed(self, logfile: LogFile, message: str) -> int:
        logfile.note(message)
        logfile.close()
        now = rfc3339()
        self.record.started_at = now
        self.record.terminated(128, "StartError", now, message)
        self.worker.notify()
        self._event("Warning", "Failed", f"Error: {message}")
        return 128

    async def _reap(
        self, proc: asyncio.subprocess.Process, pumps: list[asyncio.Task[None]]
    ) -> None:
        """After the main process exited: kill the rest of its group, drain its output."""
        signal_group(proc.pid, signal.SIGKILL)
        self.worker.ctx.procs.remove(proc.pid)
        for task in self._probe_tasks:
            task.cancel()
        self._probe_tasks = []
        _, pending = await asyncio.wait(pumps, timeout=5)
        for task in pending:
            task.cancel()

    # --- probes --------------------------------------------------------------------------

    def _probes(self) -> dict[str, ProbeSpec]:
        out = {}
        for which in ("startup", "liveness", "readiness"):
            spec = parse_probe(self.spec.get(f"{which}Probe"))
            if spec is not None and not (self.init and self.spec.get("restartPolicy") != "Always"):
                out[which] = spec
        return out

    def _mark_started(self) -> None:
        self.record.started = True
        self.started.set()
        if not self.spec.get("readinessProbe"):
            self.record.ready = True

    def _start_probes(self, probes: Mapping[str, ProbeSpec], plan: LaunchPlan, pid: int) -> None:
        ports = {
            p["name"]: int(p["containerPort"])
            for p in self.spec.get("ports") or []
            if p.get("name")
        }
        started = time.monotonic()
        for which, spec in probes.items():
            argv: list[str] = []
            if spec.kind == "exec":
                try:
                    argv = plan.resolve_exec(list(spec.handler.get("command") or []))
                except CommandError as exc:
                    argv = ["/bin/false", f"{exc}"]
            target = ProbeTarget(pid, self.worker.sandbox_ip, ports, plan.env, argv, plan.cwd)
            task = asyncio.create_task(self._probe_loop(which, spec, target, started))
            self._probe_tasks.append(task)

    async def _probe_loop(
        self, which: str, spec: ProbeSpec, target: ProbeTarget, started: float
    ) -> None:
        tracker = ProbeTracker(
            spec.success_threshold, spec.failure_threshold, result=which == "liveness"
        )
        await asyncio.sleep(max(0.0, started + spec.initial_delay - time.monotonic()))
        if which != "startup":
            await self.started.wait()
        while True:
            ok, message = await run_probe(spec, target)
            if not ok:
                self._event("Warning", "Unhealthy", f"{which.capitalize()} probe failed: {message}")
            changed = tracker.record(ok)
            if which == "readiness" and self.record.ready != tracker.result:
                self.record.ready = tracker.result
                self.worker.notify()
            elif which == "startup" and changed:
                if tracker.result:
                    self._mark_started()
                    self.worker.notify()
                    return
                self._kill_for(which, spec)
                return
            elif which == "liveness" and changed and not tracker.result:
                self._kill_for(which, spec)
                return
            await asyncio.sleep(spec.period)

    def _kill_for(self, which: str, spec: ProbeSpec) -> None:
        message = f"Container {self.name} failed {which} probe, will be restarted"
        self._event("Normal", "Killing", message)
        grace = (
            float(spec.termination_grace)
            if spec.termination_grace is not None
            else self.worker.termination_grace()
        )
        self._kill_task = asyncio.create_task(self._terminate(grace, message))

    # --- stopping ------------------------------------------------------------------------

    def spec_changed(self, spec: Obj) -> None:
        """A new pod spec: an image change restarts the container (as a kubelet does)."""
        old_image = self.spec.get("image")
        self.spec = spec
        if spec.get("image") == old_image:
            return
        self.record.image = str(spec.get("image", ""))
        self._restart_forced = True
        self._wake.set()
        if self.proc is not None and self.proc.returncode is None:
            message = f"Container {self.name} definition changed, will be restarted"
            self._event("Normal", "Killing", message)
            self._kill_task = asyncio.create_task(
                self._terminate(self.worker.termination_grace(), message)
            )

    async def stop(self, grace: float) -> None:
        """Stops for good: SIGTERM to the group, `grace` seconds, then SIGKILL."""
        self.stopping = True
        self._wake.set()
        proc = self.proc
        if proc is not None and proc.returncode is None:
            self._event("Normal", "Killing", f"Stopping container {self.name}")
            await self._terminate(grace, "")

    async def _terminate(self, grace: float, message: str) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        self._kill_message = message
        began = time.monotonic()
        await self.worker.run_pre_stop(self, grace)
        # As the kubelet does, at least 2 s remain for SIGTERM after a preStop hook.
        remaining = max(grace - (time.monotonic() - began), min(grace, 2.0))
        signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), remaining)
        except TimeoutError:
            signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()

    def kill_now(self) -> None:
        """SIGKILL at once (the deletion's grace period ran out)."""
        if self.proc is not None and self.proc.returncode is None:
            signal_group(self.proc.pid, signal.SIGKILL)


def _read_to_eof(fd: int) -> bytes:
    chunks: list[bytes] = []
    try:
        while True:
            data = os.read(fd, 4096)
            if not data:
                return b"".join(chunks)
            chunks.append(data)
    finally:
        os.close(fd)
