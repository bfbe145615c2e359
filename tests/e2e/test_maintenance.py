"""spec.maintenance end to end: a cluster whose members run out of space (a small quota,
one key overwritten until etcd raises NOSPACE) is reported Degraded/NoSpace with a Warning,
then defragmented (one member at a time, the leader last; the history compacted first
when the data in use does not fit) and its alarm disarmed by the operator: writes work
again and the condition clears. Nothing is lost: the current value of every key is there."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from controller.clients.kube import KubeClient
from tests.e2e.operator import (
    IN_CLUSTER,
    Etcdctl,
    Obj,
    Operator,
    apply_cluster,
    cluster_status,
    eventually,
    running_with,
)
from tests.e2e.test_backup import condition, events_with
from tests.e2e.test_fault_points import NAME, pvc_cluster

pytestmark = pytest.mark.e2e
QUOTA = 8 * 1024 * 1024  # bytes: etcd has no minimum


def fill_until_nospace(etcdctl: Etcdctl) -> int:
    """Overwrites one key with 256 KiB values until etcd refuses (history fills the quota);
    returns how many puts were acknowledged."""
    script = """
    i=0
    while [ $i -lt 400 ]; do
      if ! head -c 262144 /dev/zero | tr '\\0' x | etcdctl "$@" put /big >/dev/null 2>"$ERR"; then
        grep -q "database space exceeded" "$ERR" && echo $i && exit 0
        cat "$ERR"; exit 1
      fi
      i=$((i+1))
    done
    echo never; exit 1
    """
    proc = subprocess.run(
        [IN_CLUSTER, "bash", "-c", script, "_", *etcdctl.args],
        env={**etcdctl.env, "ERR": f"/tmp/nospace-{os.getpid()}.err"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"filling: {proc.stdout} {proc.stderr}"
    return int(proc.stdout.split()[-1])


@pytest.mark.timeout(900)  # a cluster, a fill to NOSPACE, then up to 600 s for the clearing
async def test_nospace_is_reported_then_cleared_by_defragmentation_and_disarming(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
) -> None:
    doc = pvc_cluster(namespace, 3)
    doc["spec"]["pod"]["etcdEnv"] = [{"name": "ETCD_QUOTA_BACKEND_BYTES", "value": str(QUOTA)}]
    doc["spec"]["maintenance"] = {}
    apply_cluster(kubectl, doc)
    operators()
    await eventually(running_with(kube, namespace, NAME, 3), "3 ready members")
    etcdctl = Etcdctl(local_env, namespace, NAME)
    await etcdctl.members_once_served()
    await asyncio.to_thread(etcdctl, "put", "/kept", "small")
    acknowledged = await asyncio.to_thread(fill_until_nospace, etcdctl)
    assert acknowledged > 0

    async def writable() -> bool:
        proc = await asyncio.to_thread(etcdctl.run, "put", "/after", "works")
        return proc.returncode == 0

    async def cleared() -> Obj | None:
        status = await cluster_status(kube, namespace, NAME)
        done = status.get("phase") == "Running" and not condition(status, "Degraded")
        return status if done and await writable() else None

    await eventually(cleared, "the alarm cleared and writes working again", timeout=600)
    # The steps' Events are posted by the reconcile pass after the maintenance task ended,
    # which may come a moment after the writes work again (run 2 of five under load).
    events = await events_with(kube, namespace, NAME, "Defragmented", "AlarmDisarmed")
    # The pass that saw the alarm reported it before maintenance started; compaction is
    # the planner's choice (only when the data in use does not fit).
    assert "NoSpace" in [e["reason"] for e in events]
    # Only the members whose file is over the disarm line (90 % of the quota) are
    # defragmented: which ones depends on how each member's file grew (under load the
    # leader's once stayed under it, and was rightly left alone). The alarm is gone.
    defragmented = [e["message"] for e in events if e["reason"] == "Defragmented"]
    assert defragmented and all(m.startswith(f"defragmented {NAME}-") for m in defragmented)
    assert not (await asyncio.to_thread(etcdctl, "alarm", "list")).strip()
    assert (
        await asyncio.to_thread(etcdctl, "get", "/kept", "--print-value-only")
    ).strip() == "small"
    value = await asyncio.to_thread(etcdctl, "get", "/big", "--print-value-only")
    assert len(value.strip()) == 262144  # the last acknowledged value
