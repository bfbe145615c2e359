"""`make demo`'s wait: until the EtcdCluster runs at its size, or until it cannot get there.

    demo_wait.py NAME [-n NS] [--since RFC3339] [--operator-pid PID] [--operator-log FILE]

`decide` is the pure part, unit-tested on recorded states: the cluster, its member pods and
its events → keep waiting (with a progress line), done, or failed (a message and a hint).
`main` polls kubectl, prints each new progress line and exits 0 when done, 1 when failed, so
the demo stops as soon as something needs the user instead of waiting out a fixed time.
Standard library only: it runs from any Python on the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Obj = dict[str, Any]
POLL_EVERY = 2.0
# Waiting reasons a container does not leave on its own: the image cannot be provided, or the
# program keeps exiting. (ContainerCreating, PodInitializing, … are progress.)
STUCK_PULLING = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName")
STUCK_CRASHING = ("CrashLoopBackOff",)
# Where a member pod is on its way, in that order: scheduled = bound to a node that is
# preparing its volumes and sandbox; running = started but not ready yet.
STAGES = ("unscheduled", "scheduled", "initializing", "running", "ready", "terminating")
IMAGE_HINT = (
    "the node agent runs images as local programs (hack/nodeagent/README.md, 'Images →"
    " programs'); fix what the message says and the pod retries at its next pull back-off,"
    " nothing to restart"
)


@dataclass(frozen=True)
class Snapshot:
    """What the API shows at one moment, plus what the demo knows about its operator."""

    cluster: Obj | None  # the EtcdCluster; None while it does not exist
    pods: list[Obj] = field(default_factory=list)  # its member pods (label etcd_cluster)
    events: list[Obj] = field(default_factory=list)  # events whose object is the EtcdCluster
    since: str = ""  # RFC 3339; older events are from an earlier run
    operator_running: bool = True
    operator_log: str = ""


@dataclass(frozen=True)
class Waiting:
    progress: str


@dataclass(frozen=True)
class Done:
    summary: str


@dataclass(frozen=True)
class Failed:
    message: str
    hint: str


Decision = Waiting | Done | Failed


def decide(snap: Snapshot) -> Decision:
    """Done beats everything; then the first reason it cannot succeed (a pod's own message is
    the most precise, the cluster's status and events come next); else what is pending."""
    return (
        _done(snap.cluster)
        or _operator_gone(snap)
        or _pod_failure(snap.pods)
        or _cluster_failure(snap)
        or Waiting(progress(snap))
    )


def _done(cluster: Obj | None) -> Done | None:
    if cluster is None:
        return None
    status, size = cluster.get("status") or {}, cluster["spec"]["size"]
    if status.get("phase") == "Running" and status.get("readyMembers") == size:
        return Done(f"{cluster['metadata']['name']}: Running, {size}/{size} members ready")
    return None


def _cluster_failure(snap: Snapshot) -> Failed | None:
    if snap.cluster is None:
        return None
    name = snap.cluster["metadata"]["name"]
    hint = f"kubectl describe etcd {name}"
    status = snap.cluster.get("status") or {}
    if status.get("phase") == "Failed":
        return Failed(f"EtcdCluster {name} Failed: {status.get('reason') or 'no reason'}", hint)
    warnings = [
        e for e in snap.events if e.get("type") == "Warning" and _event_time(e) >= snap.since
    ]
    if warnings:
        last = max(warnings, key=_event_time)
        return Failed(f"EtcdCluster {name}: {last.get('reason')}: {last.get('message')}", hint)
    return None


def _event_time(event: Obj) -> str:
    """RFC 3339 strings in UTC compare in time order."""
    series = event.get("series") or {}
    return str(
        series.get("lastObservedTime")
        or event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or ""
    )


def _pod_failure(pods: list[Obj]) -> Failed | None:
    for pod in sorted(pods, key=_name):
        name, status = _name(pod), pod.get("status") or {}
        if status.get("phase") == "Failed":
            why = ": ".join(s for s in (status.get("reason"), status.get("message")) if s)
            return Failed(
                f"pod {name} Failed{': ' + why if why else ''}",
                f"kubectl describe pod {name}; kubectl logs {name} --all-containers",
            )
        containers = (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []
        )
        for c in containers:
            waiting = (c.get("state") or {}).get("waiting") or {}
            reason, where = waiting.get("reason", ""), f"pod {name} container {c['name']}"
            if reason in STUCK_PULLING:
                # ImagePullBackOff's message only says "Back-off"; the pull's error is an event.
                hint = f"{IMAGE_HINT}; the pull's error: kubectl describe pod {name}"
                return Failed(f"{where}: {reason}: {waiting.get('message', '')}", hint)
            if reason in STUCK_CRASHING:
                code = ((c.get("lastState") or {}).get("terminated") or {}).get("exitCode", "?")
                runs = f"exit code {code}, {c.get('restartCount', 0)} restarts"
                logs = f"kubectl logs {name} -c {c['name']} --previous"
                return Failed(f"{where}: {reason} ({runs})", f"its last run's output: {logs}")
    return None


def _operator_gone(snap: Snapshot) -> Failed | None:
    if snap.operator_running:
        return None
    return Failed("the operator exited", f"its log: {snap.operator_log or 'none recorded'}")


def progress(snap: Snapshot) -> str:
    """One line: the cluster's phase, members joined of the size, and where the pods are."""
    if snap.cluster is None:
        return "the EtcdCluster does not exist yet"
    status, size = snap.cluster.get("status") or {}, snap.cluster["spec"]["size"]
    phase = status.get("phase") or "not yet seen by the operator"
    line = (
        f"phase {phase}; members joined {status.get('size', 0)}/{size},"
        f" ready {status.get('readyMembers', 0)}"
    )
    if not snap.pods:
        return line + "; no member pods yet"
    counts = Counter(pod_stage(p) for p in snap.pods)
    order = {stage: i for i, stage in enumerate(STAGES)}
    stages = sorted(counts, key=lambda stage: order.get(stage, len(order)))
    return line + "; pods: " + ", ".join(f"{counts[stage]} {stage}" for stage in stages)


def pod_stage(pod: Obj) -> str:
    """One of STAGES (or a finished pod's phase, lower case)."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    if pod["metadata"].get("deletionTimestamp"):
        return "terminating"
    if not (pod.get("spec") or {}).get("nodeName"):
        return "unscheduled"
    if phase == "Running":
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        return "ready" if ready else "running"
    if phase != "Pending":
        return phase.lower()
    inits = status.get("initContainerStatuses") or []
    return "initializing" if any(not _completed(c) for c in inits) else "scheduled"


def _completed(container: Obj) -> bool:
    terminated = (container.get("state") or {}).get("terminated") or {}
    return terminated.get("exitCode") == 0


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


# --- the loop ------------------------------------------------------------------------------


def kubectl_json(namespace: str, *args: str) -> Obj | None:
    """`kubectl get ... -o json`; None when the object does not exist."""
    where = ["--namespace", namespace] if namespace else []
    out = subprocess.run(
        ["kubectl", "get", *where, *args, "-o", "json", "--ignore-not-found"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return json.loads(out) if out.strip() else None


def observe(args: argparse.Namespace) -> Snapshot:
    name, ns = args.name, args.namespace
    selector = f"involvedObject.kind=EtcdCluster,involvedObject.name={name}"
    pods = kubectl_json(ns, "pods", "-l", f"etcd_cluster={name}") or {}
    events = kubectl_json(ns, "events", "--field-selector", selector) or {}
    return Snapshot(
        cluster=kubectl_json(ns, "etcdcluster", name),
        pods=pods.get("items") or [],
        events=events.get("items") or [],
        since=args.since,
        operator_running=args.operator_pid is None or _alive(args.operator_pid),
        operator_log=args.operator_log,
    )


def _alive(pid: int) -> bool:
    """Exists and is not a zombie (an exited child its shell has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait(args: argparse.Namespace) -> int:
    start, shown = time.monotonic(), ""
    while True:
        elapsed = time.monotonic() - start
        try:
            decision = decide(observe(args))
        except (subprocess.SubprocessError, json.JSONDecodeError) as exc:
            decision = Waiting(f"kubectl failed, retrying: {str(exc).strip()[:200]}")
        if isinstance(decision, Done):
            print(f"[{elapsed:4.0f}s] {decision.summary}", flush=True)
            return 0
        if isinstance(decision, Failed):
            return _fail(decision)
        if decision.progress != shown:
            print(f"[{elapsed:4.0f}s] waiting: {decision.progress}", flush=True)
            shown = decision.progress
        if elapsed > args.timeout:
            # A last resort: every state that cannot resolve itself is caught above.
            name = args.name
            hint = f"kubectl describe etcd {name}; kubectl get pods -l etcd_cluster={name}"
            if args.operator_log:
                hint += f"; the operator's log: {args.operator_log}"
            return _fail(Failed(f"still waiting after {args.timeout:.0f}s: {shown}", hint))
        time.sleep(POLL_EVERY)


def _fail(failed: Failed) -> int:
    print(f"demo: {failed.message}\n  hint: {failed.hint}", file=sys.stderr, flush=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="make demo's wait for an EtcdCluster")
    parser.add_argument("name", help="the EtcdCluster")
    parser.add_argument("-n", "--namespace", default="", help="default: kubectl's current one")
    parser.add_argument("--since", default="", help="ignore events before this RFC 3339 time")
    parser.add_argument("--operator-pid", type=int, help="fail when this process is gone")
    parser.add_argument("--operator-log", default="", help="shown when the operator exits")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds; a last resort")
    return wait(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
