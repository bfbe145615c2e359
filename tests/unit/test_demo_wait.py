"""`make demo`'s wait decides on recorded states: keep waiting (saying for what), done, or fail
with the message and a hint. The states were recorded from the local environment (the seed's
cluster bootstrapping; clusters with an unbuilt etcd minor, a crashing member, missing TLS
Secrets) and trimmed to the fields the decision reads: tests/fixtures/demo_wait_states.json.
"""

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from demo_wait import IMAGE_HINT, Done, Failed, Snapshot, Waiting, decide, pod_stage

STATES = json.loads((Path(__file__).parents[1] / "fixtures" / "demo_wait_states.json").read_text())
SINCE = "2026-11-30T21:10:00Z"  # before every recorded event: all count as this run's


def snapshot(state: str, **changes: Any) -> Snapshot:
    recorded = copy.deepcopy(STATES[state])
    return Snapshot(**{"since": SINCE, **recorded, **changes})


@pytest.mark.parametrize(
    ("state", "progress"),
    [
        ("no-cluster-yet", "the EtcdCluster does not exist yet"),
        (
            "first-member-starting",
            "phase Creating; members joined 1/3, ready 0; pods: 1 running",
        ),
        (
            "third-member-scheduled",
            "phase Creating; members joined 3/3, ready 1; pods: 1 scheduled, 2 ready",
        ),
        (
            "third-member-running",
            "phase Creating; members joined 3/3, ready 2; pods: 1 running, 2 ready",
        ),
        (
            "member-initializing",
            "phase Creating; members joined 1/1, ready 0; pods: 1 initializing",
        ),
    ],
)
def test_keeps_waiting_and_says_for_what(state: str, progress: str) -> None:
    assert decide(snapshot(state)) == Waiting(progress)


def test_done_when_running_with_every_member_ready() -> None:
    assert decide(snapshot("running")) == Done("example: Running, 3/3 members ready")


def test_image_that_cannot_be_pulled_fails_with_the_pods_message() -> None:
    decision = decide(snapshot("member-image-not-built"))
    assert isinstance(decision, Failed)
    assert decision.message.startswith("pod pull-76j4ujtqsv container etcd: ErrImagePull:")
    assert "etcd 3.5 is not available here" in decision.message
    assert "ETCD_VERSIONS in hack/versions.env" in decision.message
    assert decision.hint.startswith(IMAGE_HINT)
    assert decision.hint.endswith("kubectl describe pod pull-76j4ujtqsv")


def test_crash_loop_fails_pointing_at_the_previous_run() -> None:
    decision = decide(snapshot("member-crash-looping"))
    assert decision == Failed(
        "pod crash-80q2rb83o5 container etcd: CrashLoopBackOff (exit code 1, 2 restarts)",
        "its last run's output: kubectl logs crash-80q2rb83o5 -c etcd --previous",
    )


def test_failed_cluster_fails_with_its_reason() -> None:
    decision = decide(snapshot("tls-secrets-missing"))
    assert decision == Failed(
        "EtcdCluster tls Failed: missing TLS secrets: nope-peer, nope-server, nope-client",
        "kubectl describe etcd tls",
    )


def test_failed_pod_fails() -> None:
    snap = snapshot("first-member-starting")
    snap.pods[0]["status"].update(phase="Failed", reason="Evicted", message="disk pressure")
    decision = decide(snap)
    assert isinstance(decision, Failed)
    assert decision.message == "pod example-d5wt85ubvx Failed: Evicted: disk pressure"


def test_warning_event_on_the_cluster_fails_unless_from_an_earlier_run() -> None:
    # The member's pod gone (say, deleted): only the cluster's MemberCannotStart events remain.
    this_run = decide(snapshot("member-image-not-built", pods=[]))
    assert isinstance(this_run, Failed)
    assert this_run.message.startswith("EtcdCluster pull: MemberCannotStart: pull-76j4ujtqsv")
    assert this_run.hint == "kubectl describe etcd pull"
    later = decide(snapshot("member-image-not-built", pods=[], since="2026-11-30T22:00:00Z"))
    assert isinstance(later, Waiting)


def test_operator_that_exited_fails_with_its_log() -> None:
    snap = snapshot("first-member-starting", operator_running=False, operator_log="op.log")
    assert decide(snap) == Failed("the operator exited", "its log: op.log")


def test_done_beats_a_stale_failure() -> None:
    snap = snapshot("running", operator_running=False)
    assert isinstance(decide(snap), Done)


@pytest.mark.parametrize(
    ("change", "stage"),
    [
        ({"spec": {}}, "unscheduled"),
        ({"metadata": {"name": "x", "deletionTimestamp": "2026-11-30T21:12:00Z"}}, "terminating"),
        ({"status": {"phase": "Pending"}}, "scheduled"),
        ({"status": {"phase": "Succeeded"}}, "succeeded"),
    ],
)
def test_pod_stages(change: dict[str, Any], stage: str) -> None:
    pod = {**copy.deepcopy(STATES["running"]["pods"][0]), **change}
    assert pod_stage(pod) == stage
