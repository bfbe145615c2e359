"""Container records continued after an agent restart (its processes died with it)."""

from nodeagent.statussync import seed_record


def pod(policy: str, state: dict, init: bool = False, restarts: int = 2) -> dict:
    key = "initContainerStatuses" if init else "containerStatuses"
    status = {"name": "c", "restartCount": restarts, "state": state, "containerID": "nodeagent://a"}
    return {"spec": {"restartPolicy": policy}, "status": {key: [status]}}


RUNNING = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
DONE = {"terminated": {"exitCode": 0, "reason": "Completed"}}
FAILED = {"terminated": {"exitCode": 1, "reason": "Error"}}


def test_a_running_container_counts_a_restart() -> None:
    rec = seed_record({"name": "c", "image": "busybox"}, pod("Always", RUNNING), False, "X")
    assert rec.state == "waiting" and rec.restart_count == 3
    assert rec.last_state["terminated"]["message"] == "the node agent restarted"
    assert rec.last_state["terminated"]["startedAt"] == "2026-01-01T00:00:00Z"


def test_completed_init_containers_are_not_run_again() -> None:
    rec = seed_record({"name": "c"}, pod("Always", DONE, init=True), True, "X")
    assert (rec.state, rec.exit_code, rec.restart_count) == ("terminated", 0, 2)


def test_finished_containers_stay_finished_unless_the_policy_restarts_them() -> None:
    assert seed_record({"name": "c"}, pod("Never", FAILED), False, "X").state == "terminated"
    assert seed_record({"name": "c"}, pod("OnFailure", DONE), False, "X").state == "terminated"
    assert seed_record({"name": "c"}, pod("OnFailure", FAILED), False, "X").state == "waiting"
    assert seed_record({"name": "c"}, pod("Always", DONE), False, "X").state == "waiting"


def test_a_new_pod_starts_from_scratch() -> None:
    rec = seed_record({"name": "c", "image": "busybox"}, {"spec": {}}, False, "ContainerCreating")
    assert (rec.state, rec.reason, rec.restart_count) == ("waiting", "ContainerCreating", 0)
