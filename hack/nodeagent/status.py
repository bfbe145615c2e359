"""Pod status as a kubelet computes it: container states → phase, conditions, the status dict.

Pure: the pod worker keeps one `ContainerRecord` per container and calls `pod_status` whenever
something changed; the result is written only when it differs from what was last written.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

OWN_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")
TERMINAL = ("Succeeded", "Failed")


def rfc3339(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


@dataclass
class ContainerRecord:
    """One container's state, in the words of v1.ContainerStatus."""

    name: str
    image: str
    image_id: str = ""
    container_id: str = ""
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    exit_code: int = 0
    signal: int = 0
    started_at: str = ""
    finished_at: str = ""
    last_state: Obj = field(default_factory=dict)  # {"terminated": {...}} or {}
    restart_count: int = 0
    ready: bool = False
    started: bool = False

    def waiting(self, reason: str, message: str = "") -> None:
        self.state, self.reason, self.message = "waiting", reason, message
        self.ready = self.started = False

    def running(self, container_id: str, started_at: str) -> None:
        self.state, self.reason, self.message = "running", "", ""
        self.container_id, self.started_at, self.finished_at = container_id, started_at, ""
        self.exit_code = self.signal = 0
        self.ready = self.started = False

    def terminated(
        self, exit_code: int, reason: str, finished_at: str, message: str = "", signal: int = 0
    ) -> None:
        self.state, self.reason, self.message = "terminated", reason, message
        self.exit_code, self.signal, self.finished_at = exit_code, signal, finished_at
        self.ready = self.started = False

    def retire(self) -> None:
        """The terminated run becomes lastState; a restart follows."""
        if self.state == "terminated":
            self.last_state = {"terminated": self.terminated_state()}

    def terminated_state(self) -> Obj:
        out: Obj = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at or None,
            "finishedAt": self.finished_at or None,
        }
        if self.message:
            out["message"] = self.message
        if self.signal:
            out["signal"] = self.signal
        if self.container_id:
            out["containerID"] = self.container_id
        return out

    @property
    def has_failed_before(self) -> bool:
        return bool(self.last_state.get("terminated"))

    def to_status(self) -> Obj:
        if self.state == "running":
            state: Obj = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            state = {"terminated": self.terminated_state()}
        else:
            state = {"waiting": {"reason": self.reason}}
            if self.message:
                state["waiting"]["message"] = self.message
        out: Obj = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": self.last_state,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out


@dataclass
class PodView:
    """Everything besides the container records that goes into a pod's status."""

    sandbox_ready: bool = False
    pod_ip: str = ""
    host_ip: str = ""
    start_time: str = ""
    terminal_phase: str = ""  # set once the pod's containers will never run again


def pod_phase(
    spec: Mapping[str, Any],
    inits: Sequence[ContainerRecord],
    mains: Sequence[ContainerRecord],
    terminal: bool = False,
) -> str:
    """The kubelet's getPhase (restartable init containers aside)."""
    policy = spec.get("restartPolicy", "Always")
    pending_init = failed_init = 0
    for rec in inits:
        if rec.state == "running":
            pending_init += 1
        elif rec.state == "terminated":
            failed_init += rec.exit_code != 0
        elif rec.has_failed_before:
            failed_init += rec.last_state["terminated"].get("exitCode", 1) != 0
        else:
            pending_init += 1
    running = waiting = stopped = succeeded = 0
    for rec in mains:
        if rec.state == "running":
            running += 1
        elif rec.state == "terminated":
            stopped += 1
            succeeded += rec.exit_code == 0
        elif rec.has_failed_before:
            stopped += 1
        else:
            waiting += 1
    if failed_init and policy == "Never":
        return "Failed"
    any_started = any(r.state != "waiting" or r.has_failed_before for r in mains)
    if (pending_init and not any_started) or waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


def _condition(
    ctype: str, ok: bool, previous: Mapping[str, Obj], now: str, reason: str = "", message: str = ""
) -> Obj:
    status = "True" if ok else "False"
    old = previous.get(ctype)
    since = old.get("lastTransitionTime") if old and old.get("status") == status else None
    cond: Obj = {
        "type": ctype,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": since or now,
    }
    if not ok and reason:
        cond["reason"] = reason
    if not ok and message:
        cond["message"] = message
    return cond


def pod_conditions(
    pod: Mapping[str, Any],
    inits: Sequence[ContainerRecord],
    mains: Sequence[ContainerRecord],
    view: PodView,
    phase: str,
    now: str,
) -> list[Obj]:
    existing = list(pod.get("status", {}).get("conditions") or [])
    previous = {c["type"]: c for c in existing}
    incomplete = [r.name for r in inits if not (r.state == "terminated" and r.exit_code == 0)]
    initialized = not incomplete or any(r.state != "waiting" or r.has_failed_before for r in mains)
    unready = [r.name for r in mains if not r.ready]
    completed = phase == "Succeeded"
    ready_reason = "PodCompleted" if completed else "ContainersNotReady"
    ready_msg = "" if completed else f"containers with unready status: [{' '.join(unready)}]"
    gates_msg = _readiness_gates_message(pod, previous)
    ready = not unready and not gates_msg
    generation = pod.get("metadata", {}).get("generation")
    own = [
        _condition("PodReadyToStartContainers", view.sandbox_ready, previous, now),
        _condition(
            "Initialized",
            initialized,
            previous,
            now,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(incomplete)}]",
        ),
        _condition(
            "Ready",
            ready,
            previous,
            now,
            "ReadinessGatesNotReady" if not unready and gates_msg else ready_reason,
            gates_msg if not unready and gates_msg else ready_msg,
        ),
        _condition("ContainersReady", not unready, previous, now, ready_reason, ready_msg),
    ]
    if generation is not None:
        for cond in own:
            cond["observedGeneration"] = generation
    others = [c for c in existing if c.get("type") not in OWN_CONDITIONS]
    return others + own


def _readiness_gates_message(pod: Mapping[str, Any], previous: Mapping[str, Obj]) -> str:
    for gate in pod.get("spec", {}).get("readinessGates") or []:
        ctype = gate.get("conditionType", "")
        cond = previous.get(ctype)
        if cond is None:
            return f'corresponding condition of pod readiness gate "{ctype}" does not exist.'
        if cond.get("status") != "True":
            status = cond.get("status")
            return f'the status of pod readiness gate "{ctype}" is not "True", but {status}'
    return ""


def pod_status(
    pod: Mapping[str, Any],
    inits: Sequence[ContainerRecord],
    mains: Sequence[ContainerRecord],
    view: PodView,
    now: str | None = None,
) -> Obj:
    now = now or rfc3339()
    current = pod.get("status", {})
    phase = view.terminal_phase or pod_phase(pod.get("spec", {}), inits, mains)
    if current.get("phase") in TERMINAL:
        phase = current["phase"]  # terminal phases never change back
    status: Obj = {
        "phase": phase,
        "conditions": pod_conditions(pod, inits, mains, view, phase, now),
        "startTime": current.get("startTime") or view.start_time or now,
        "containerStatuses": [r.to_status() for r in mains],
    }
    if pod.get("metadata", {}).get("generation") is not None:
        status["observedGeneration"] = pod["metadata"]["generation"]
    if inits:
        status["initContainerStatuses"] = [r.to_status() for r in inits]
    if view.host_ip:
        status["hostIP"] = view.host_ip
        status["hostIPs"] = [{"ip": view.host_ip}]
    if view.pod_ip:
        status["podIP"] = view.pod_ip
        status["podIPs"] = [{"ip": view.pod_ip}]
    return status
