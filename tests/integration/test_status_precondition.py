"""patch_status on the real API server: a status computed from an old resourceVersion is
refused (StaleObject), so a second writer can never overwrite what the first recorded."""

from __future__ import annotations

import asyncio

import pytest

from controller.clients.kube import KubeClient
from controller.common.resources import ETCD_CLUSTERS
from controller.runtime.apiclient import instrument
from controller.runtime.metrics import REGISTRY
from controller.runtime.status import StaleObject, patch_status
from controller.runtime.store import Obj, resource_version
from tests.seed import CLUSTER, DELETE, load_seed, set_field

pytestmark = pytest.mark.integration


async def create_cluster(kube: KubeClient, namespace: str) -> Obj:
    """The seed's EtcdCluster in `namespace`; without its cluster-wide annotation no
    operator that may be running elsewhere on this API server touches it."""
    doc = load_seed(CLUSTER)
    set_field(doc, "metadata.namespace", namespace)
    set_field(doc, "metadata.annotations", DELETE)
    return await kube.create(ETCD_CLUSTERS, doc, namespace)


def conflicts(kube: KubeClient) -> float:
    labels = {"code": "409", "method": "PATCH", "host": kube.host.split("://", 1)[-1]}
    return REGISTRY.get_sample_value("rest_client_requests_total", labels) or 0.0


async def test_of_two_writers_from_one_version_only_the_first_lands(
    kube: KubeClient, namespace: str
) -> None:
    instrument(kube, qps=-1)  # count requests (the refused write is a 409 PATCH)
    cluster = await create_cluster(kube, namespace)
    name, seen = cluster["metadata"]["name"], resource_version(cluster)
    first = {"phase": "Creating", "size": 1, "reason": None}
    second = {"phase": "Failed", "reason": "decided from a stale copy"}
    conflicts_before = conflicts(kube)

    written = await patch_status(kube, ETCD_CLUSTERS, namespace, name, seen, first)
    with pytest.raises(StaleObject):
        await patch_status(kube, ETCD_CLUSTERS, namespace, name, seen, second)

    status = (await kube.get(ETCD_CLUSTERS, name, namespace))["status"]
    assert status["phase"] == "Creating" and status["size"] == 1 and "reason" not in status
    assert resource_version(written) != seen
    assert conflicts(kube) - conflicts_before == 1
    # Observing again, then deciding again, succeeds.
    await patch_status(kube, ETCD_CLUSTERS, namespace, name, resource_version(written), second)
    status = (await kube.get(ETCD_CLUSTERS, name, namespace))["status"]
    assert (status["phase"], status["reason"], status["size"]) == (
        "Failed",
        "decided from a stale copy",
        1,
    )


async def test_concurrent_writers_one_wins_and_its_status_stays(
    kube: KubeClient, namespace: str
) -> None:
    cluster = await create_cluster(kube, namespace)
    name, seen = cluster["metadata"]["name"], resource_version(cluster)
    statuses = [{"phase": "Creating", "size": n} for n in (1, 2, 3, 4)]
    outcomes = await asyncio.gather(
        *(patch_status(kube, ETCD_CLUSTERS, namespace, name, seen, s) for s in statuses),
        return_exceptions=True,
    )
    won = [s for s, o in zip(statuses, outcomes, strict=True) if not isinstance(o, Exception)]
    lost = [o for o in outcomes if isinstance(o, Exception)]
    assert len(won) == 1 and len(lost) == 3, outcomes
    assert all(isinstance(o, StaleObject) for o in lost)
    status = (await kube.get(ETCD_CLUSTERS, name, namespace))["status"]
    assert status["size"] == won[0]["size"]


async def test_a_spec_change_makes_a_status_write_stale(kube: KubeClient, namespace: str) -> None:
    cluster = await create_cluster(kube, namespace)
    name, seen = cluster["metadata"]["name"], resource_version(cluster)
    await kube.patch(ETCD_CLUSTERS, name, {"spec": {"size": 5}}, namespace)  # the user edits
    with pytest.raises(StaleObject):  # a status decided for size 3 must not land
        await patch_status(kube, ETCD_CLUSTERS, namespace, name, seen, {"size": 3})
    assert "size" not in (await kube.get(ETCD_CLUSTERS, name, namespace)).get("status", {})


async def test_a_deleted_object_is_stale(kube: KubeClient, namespace: str) -> None:
    cluster = await create_cluster(kube, namespace)
    name, seen = cluster["metadata"]["name"], resource_version(cluster)
    await kube.delete(ETCD_CLUSTERS, name, namespace)
    with pytest.raises(StaleObject):
        await patch_status(kube, ETCD_CLUSTERS, namespace, name, seen, {"phase": "Running"})
