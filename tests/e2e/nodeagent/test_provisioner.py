"""The local volume provisioner against the real API and the real PV controller.

The provisioner runs inside the test with its own root. The node agent may run one under the
same name; both create the same PV name (pvc-<uid>), so whichever wins, the assertions about
the world hold: the claim is Bound, the PV's directory exists, and it all goes away (or stays,
for Retain) after the claim is deleted.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from nodeagent.kinds import PVS, STORAGE_CLASSES
from nodeagent.provisioner import SELECTED_NODE, LocalProvisioner, storage_class

from controller.clients.kube import PVCS, ApiError, KubeClient

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]
NAME = "etcd-operator.local/hostpath"


@pytest.fixture
async def provisioner(kube: KubeClient, tmp_path: Path) -> AsyncIterator[LocalProvisioner]:
    prov = LocalProvisioner(kube, tmp_path / "volumes", NAME)
    task = asyncio.create_task(prov.run())
    try:
        yield prov
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def eventually(get: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + 120
    while True:
        value = await get()
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"gave up waiting; last value: {value}"
        await asyncio.sleep(0.5)


def is_dir(path: Path) -> bool:
    """(A local stat: blocking the loop for it is fine in a test.)"""
    return path.is_dir()


def path_exists(path: Path) -> bool:
    return path.exists()


def claim(name: str, storage_class_name: str) -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {
            "storageClassName": storage_class_name,
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }


async def pv_or_none(kube: KubeClient, name: str) -> Obj | None:
    try:
        return await kube.get(PVS, name)
    except ApiError as exc:
        if exc.not_found:
            return None
        raise


async def bound_volume(kube: KubeClient, namespace: str, pvc_name: str) -> Obj:
    pvc = await eventually(
        lambda: kube.get(PVCS, pvc_name, namespace),
        lambda c: c.get("status", {}).get("phase") == "Bound",
    )
    pv = await kube.get(PVS, pvc["spec"]["volumeName"])
    assert pv["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"]
    assert pv["spec"]["capacity"]["storage"] == "1Gi"
    assert pv["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == NAME
    return pv


async def test_claim_in_rbd_is_bound_and_cleaned_up_on_delete(
    kube: KubeClient, namespace: str, provisioner: LocalProvisioner
) -> None:
    await kube.create(PVCS, claim("data", "rbd"), namespace)
    pv = await bound_volume(kube, namespace, "data")
    assert pv["spec"]["storageClassName"] == "rbd"
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    path = Path(pv["spec"]["hostPath"]["path"])
    assert is_dir(path)
    (path / "member").mkdir()  # data the volume's pods would write

    await kube.delete(PVCS, "data", namespace)
    await eventually(lambda: pv_or_none(kube, pv["metadata"]["name"]), lambda v: v is None)
    assert not path_exists(path)


async def test_default_classes_exist(kube: KubeClient, provisioner: LocalProvisioner) -> None:
    async def standard_or_none() -> Obj | None:
        listed = await kube.list(STORAGE_CLASSES)
        return next((sc for sc in listed["items"] if sc["metadata"]["name"] == "standard"), None)

    standard = await eventually(standard_or_none, lambda sc: sc is not None)
    annotations = standard["metadata"].get("annotations", {})
    assert annotations["storageclass.kubernetes.io/is-default-class"] == "true"
    rbd = await kube.get(STORAGE_CLASSES, "rbd")
    assert rbd["provisioner"] == NAME and rbd["reclaimPolicy"] == "Delete"


@pytest.fixture
async def extra_class(kube: KubeClient, namespace: str) -> AsyncIterator[Callable[..., Any]]:
    """Creates test-only StorageClasses (cluster-scoped), deleted afterwards."""
    made: list[str] = []

    async def make(suffix: str, **fields: str) -> str:
        sc = storage_class(f"{namespace}-{suffix}", NAME)
        sc.update(fields)
        await kube.create(STORAGE_CLASSES, sc)
        made.append(sc["metadata"]["name"])
        return str(sc["metadata"]["name"])

    yield make
    for name in made:
        await kube.delete(STORAGE_CLASSES, name)


async def test_retain_keeps_volume_and_directory(
    kube: KubeClient,
    namespace: str,
    provisioner: LocalProvisioner,
    extra_class: Callable[..., Any],
) -> None:
    retain = await extra_class("retain", reclaimPolicy="Retain")
    await kube.create(PVCS, claim("kept", retain), namespace)
    pv = await bound_volume(kube, namespace, "kept")
    path = Path(pv["spec"]["hostPath"]["path"])
    await kube.delete(PVCS, "kept", namespace)
    released = await eventually(
        lambda: kube.get(PVS, pv["metadata"]["name"]),
        lambda v: v.get("status", {}).get("phase") == "Released",
    )
    await asyncio.sleep(3)  # give a wrong deletion the chance to happen
    assert (await kube.get(PVS, released["metadata"]["name"]))["status"]["phase"] == "Released"
    assert is_dir(path)
    await kube.delete(PVS, pv["metadata"]["name"])
    shutil.rmtree(path)


async def test_wait_for_first_consumer_waits_for_selected_node(
    kube: KubeClient,
    namespace: str,
    provisioner: LocalProvisioner,
    extra_class: Callable[..., Any],
) -> None:
    late = await extra_class("late", volumeBindingMode="WaitForFirstConsumer")
    await kube.create(PVCS, claim("late", late), namespace)
    await asyncio.sleep(3)
    pvc = await kube.get(PVCS, "late", namespace)
    assert pvc.get("status", {}).get("phase") == "Pending"
    assert not pvc["spec"].get("volumeName")
    annotations = {SELECTED_NODE: "node-1"}
    await kube.patch(PVCS, "late", {"metadata": {"annotations": annotations}}, namespace)
    pv = await bound_volume(kube, namespace, "late")
    await kube.delete(PVCS, "late", namespace)
    await eventually(lambda: pv_or_none(kube, pv["metadata"]["name"]), lambda v: v is None)
