"""Pod phase and conditions, computed the kubelet's way."""

from nodeagent.status import ContainerRecord, PodView, pod_phase, pod_status

NOW = "2026-01-01T00:00:00Z"


def rec(
    name: str = "c",
    state: str = "running",
    exit_code: int = 0,
    ready: bool = False,
    failed_before: bool = False,
) -> ContainerRecord:
    r = ContainerRecord(name=name, image="busybox")
    if state == "running":
        r.running("nodeagent://x", NOW)
        r.ready = r.started = ready
    elif state == "terminated":
        r.started_at = NOW
        r.terminated(exit_code, "Completed" if exit_code == 0 else "Error", NOW)
    else:
        r.waiting(state)
    if failed_before:
        r.last_state = {"terminated": {"exitCode": 1, "reason": "Error"}}
    return r


def spec(policy: str = "Always") -> dict:
    return {"restartPolicy": policy}


def test_phases_of_main_containers() -> None:
    assert pod_phase(spec(), [], [rec(state="ContainerCreating")]) == "Pending"
    assert pod_phase(spec(), [], [rec()]) == "Running"
    assert pod_phase(spec(), [], [rec(state="CrashLoopBackOff", failed_before=True)]) == "Running"
    assert pod_phase(spec("Never"), [], [rec(state="terminated", exit_code=0)]) == "Succeeded"
    assert pod_phase(spec("Never"), [], [rec(state="terminated", exit_code=2)]) == "Failed"
    assert pod_phase(spec("OnFailure"), [], [rec(state="terminated", exit_code=2)]) == "Running"
    assert pod_phase(spec("Always"), [], [rec(state="terminated", exit_code=0)]) == "Running"
    # deleted pods are terminal whatever the policy
    assert (
        pod_phase(spec(), [], [rec(state="terminated", exit_code=137)], terminal=True) == "Failed"
    )
    two = [rec("a"), rec("b", state="terminated", exit_code=0)]
    assert pod_phase(spec("Never"), [], two) == "Running"


def test_phases_with_init_containers() -> None:
    waiting_main = [rec(state="PodInitializing")]
    assert pod_phase(spec(), [rec("i")], waiting_main) == "Pending"
    assert (
        pod_phase(spec("Never"), [rec("i", state="terminated", exit_code=1)], waiting_main)
        == "Failed"
    )
    failing = rec("i", state="CrashLoopBackOff", failed_before=True)
    assert pod_phase(spec(), [failing], waiting_main) == "Pending"
    done = rec("i", state="terminated", exit_code=0)
    assert pod_phase(spec(), [done], [rec()]) == "Running"


def test_conditions_follow_readiness() -> None:
    pod = {"metadata": {}, "spec": spec(), "status": {}}
    view = PodView(sandbox_ready=True, pod_ip="10.213.1.2", host_ip="127.0.0.1")
    status = pod_status(pod, [], [rec("a", ready=True), rec("b")], view, NOW)
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Ready"]["status"] == "False"
    assert conds["Ready"]["message"] == "containers with unready status: [b]"
    assert conds["ContainersReady"]["reason"] == "ContainersNotReady"
    assert conds["Initialized"]["status"] == "True"
    assert conds["PodReadyToStartContainers"]["status"] == "True"
    assert status["podIP"] == "10.213.1.2" and status["podIPs"] == [{"ip": "10.213.1.2"}]
    assert status["phase"] == "Running"


def test_transition_times_are_kept_and_others_conditions_survive() -> None:
    old = "2025-01-01T00:00:00Z"
    pod = {
        "metadata": {},
        "spec": spec(),
        "status": {
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": old},
                {"type": "Ready", "status": "True", "lastTransitionTime": old},
            ]
        },
    }
    status = pod_status(pod, [], [rec(ready=True)], PodView(sandbox_ready=True), NOW)
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["PodScheduled"]["lastTransitionTime"] == old
    assert conds["Ready"]["lastTransitionTime"] == old
    assert conds["ContainersReady"]["lastTransitionTime"] == NOW


def test_readiness_gates() -> None:
    pod = {
        "metadata": {},
        "spec": {**spec(), "readinessGates": [{"conditionType": "x/y"}]},
        "status": {},
    }
    conds = {
        c["type"]: c for c in pod_status(pod, [], [rec(ready=True)], PodView(), NOW)["conditions"]
    }
    assert conds["ContainersReady"]["status"] == "True"
    assert conds["Ready"]["status"] == "False"
    assert conds["Ready"]["reason"] == "ReadinessGatesNotReady"


def test_terminal_phase_never_changes_back() -> None:
    pod = {"metadata": {}, "spec": spec(), "status": {"phase": "Succeeded"}}
    assert pod_status(pod, [], [rec()], PodView(), NOW)["phase"] == "Succeeded"


def test_container_status_shapes() -> None:
    r = rec(state="terminated", exit_code=137)
    r.retire()
    r.restart_count = 1
    r.waiting("CrashLoopBackOff", "back-off 10s")
    out = r.to_status()
    assert out["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}
    assert out["lastState"]["terminated"]["exitCode"] == 137
    assert out["restartCount"] == 1 and out["ready"] is False and out["started"] is False
