"""The seed's example cluster yields the CoreOS-shaped pods, PVCs and Services."""

from __future__ import annotations

from typing import Any

from api import EtcdCluster
from controller.etcdcluster import resources
from tests.seed import CLUSTER, load_seed, set_field

POD = "example-abcde12345"
PEER = f"https://{POD}.example.default.svc:2380"
OWNER = {
    "apiVersion": "etcd.database.coreos.com/v1beta2",
    "kind": "EtcdCluster",
    "name": "example",
    "uid": "uid-1",
    "controller": True,
}


def seed_cluster(**fields: Any) -> EtcdCluster:
    doc = load_seed(CLUSTER)
    set_field(doc, "metadata.namespace", "default")
    set_field(doc, "metadata.uid", "uid-1")
    for path, value in fields.items():
        set_field(doc, path.replace("__", "."), value)
    return EtcdCluster.model_validate(doc)


def test_seed_member_pod() -> None:
    pod = resources.member_pod(seed_cluster(), POD, ((POD, PEER),), "new")
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["name"] == POD and meta["namespace"] == "default"
    assert meta["labels"] == {"app": "etcd", "etcd_cluster": "example", "etcd_node": POD}
    assert meta["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "2379",
        "etcd.version": "3.6.16",
        "etcd.database.coreos.com/template-hash": resources.template_hash(seed_cluster()),
    }
    assert meta["ownerReferences"] == [OWNER]
    assert (spec["hostname"], spec["subdomain"]) == (POD, "example")
    (etcd,) = spec["containers"]
    assert etcd["name"] == "etcd" and etcd["image"] == "quay.io/coreos/etcd:v3.6.16"
    assert etcd["command"] == [
        "/usr/local/bin/etcd",
        "--data-dir=/var/etcd/data",
        f"--name={POD}",
        f"--initial-advertise-peer-urls={PEER}",
        "--listen-peer-urls=https://0.0.0.0:2380",
        "--listen-client-urls=https://0.0.0.0:2379",
        f"--advertise-client-urls=https://{POD}.example.default.svc:2379",
        "--listen-metrics-urls=http://0.0.0.0:2381",
        f"--initial-cluster={POD}={PEER}",
        "--initial-cluster-state=new",
        "--initial-cluster-token=uid-1",
        "--peer-client-cert-auth=true",
        "--peer-trusted-ca-file=/etc/etcdtls/member/peer-tls/peer-ca.crt",
        "--peer-cert-file=/etc/etcdtls/member/peer-tls/peer.crt",
        "--peer-key-file=/etc/etcdtls/member/peer-tls/peer.key",
        "--client-cert-auth=true",
        "--trusted-ca-file=/etc/etcdtls/member/server-tls/server-ca.crt",
        "--cert-file=/etc/etcdtls/member/server-tls/server.crt",
        "--key-file=/etc/etcdtls/member/server-tls/server.key",
    ]
    assert etcd["volumeMounts"] == [
        {"name": "etcd-data", "mountPath": "/var/etcd"},
        {"name": "member-peer-tls", "mountPath": "/etc/etcdtls/member/peer-tls"},
        {"name": "member-server-tls", "mountPath": "/etc/etcdtls/member/server-tls"},
    ]
    assert spec["volumes"] == [
        {"name": "etcd-data", "persistentVolumeClaim": {"claimName": POD}},
        {"name": "member-peer-tls", "secret": {"secretName": "etcd-addops-peer-tls"}},
        {"name": "member-server-tls", "secret": {"secretName": "etcd-addops-server-tls"}},
    ]
    assert etcd["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 2381, "scheme": "HTTP"}
    assert etcd["livenessProbe"]["httpGet"]["path"] == "/livez"
    (init,) = spec["initContainers"]
    assert init["image"] == "busybox:1.28.0-glibc"
    assert init["command"][:2] == ["/bin/sh", "-c"]
    assert f"nslookup {POD}.example.default.svc" in init["command"][2]
    assert "TIMEOUT_READY=0\n" in init["command"][2]
    assert resources.data_claim_name(pod) == POD


def test_joining_member_lists_every_member_and_exists() -> None:
    other = "example-zzzzz00000"
    peers = ((other, f"https://{other}.example.default.svc:2380"), (POD, PEER))
    cmd = resources.member_pod(seed_cluster(), POD, peers, "existing")["spec"]["containers"][0][
        "command"
    ]
    assert f"--initial-cluster={other}=https://{other}.example.default.svc:2380,{POD}={PEER}" in cmd
    assert "--initial-cluster-state=existing" in cmd


def test_plain_cluster_with_empty_dir_and_pod_policy() -> None:
    cluster = seed_cluster(
        spec__TLS=None,
        spec__pod__persistentVolumeClaimSpec=None,
        spec__pod__etcdEnv=[{"name": "ETCD_QUOTA_BACKEND_BYTES", "value": "1000"}],
        spec__pod__nodeSelector={"disk": "ssd"},
        spec__pod__tolerations=[{"key": "k", "operator": "Exists"}],
        spec__pod__antiAffinity=True,
        spec__pod__DNSTimeoutInSecond=30,
        spec__pod__ClusterDomain=".cluster.local",
        spec__pod__labels={"team": "db"},
        spec__version="3.7.3",
    )
    pod = resources.member_pod(cluster, POD, ((POD, "x"),), "new")
    spec, etcd = pod["spec"], pod["spec"]["containers"][0]
    assert spec["volumes"] == [{"name": "etcd-data", "emptyDir": {}}]
    assert resources.data_claim_name(pod) is None
    assert etcd["image"] == "quay.io/coreos/etcd:v3.7.3"
    assert pod["metadata"]["labels"]["team"] == "db"
    assert pod["metadata"]["annotations"]["etcd.version"] == "3.7.3"
    assert "--listen-client-urls=http://0.0.0.0:2379" in etcd["command"]
    assert (
        f"--advertise-client-urls=http://{POD}.example.default.svc.cluster.local:2379"
        in (etcd["command"])
    )
    assert not any("cert" in flag for flag in etcd["command"])
    assert etcd["env"] == [{"name": "ETCD_QUOTA_BACKEND_BYTES", "value": "1000"}]
    assert spec["nodeSelector"] == {"disk": "ssd"}
    assert spec["tolerations"] == [{"key": "k", "operator": "Exists"}]
    anti = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["labelSelector"] == {"matchLabels": {"etcd_cluster": "example"}}
    assert "TIMEOUT_READY=30\n" in spec["initContainers"][0]["command"][2]


def test_member_pvc() -> None:
    pvc = resources.member_pvc(seed_cluster(), POD)
    assert pvc["metadata"]["name"] == POD
    assert pvc["metadata"]["labels"]["etcd_cluster"] == "example"
    assert pvc["metadata"]["ownerReferences"] == [OWNER]
    assert pvc["spec"] == {
        "storageClassName": "rbd",
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }


def test_services() -> None:
    headless = resources.headless_service(seed_cluster())
    assert headless["metadata"]["name"] == "example"
    assert headless["metadata"]["ownerReferences"] == [OWNER]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert headless["spec"]["selector"] == {"app": "etcd", "etcd_cluster": "example"}
    assert [(p["name"], p["port"]) for p in headless["spec"]["ports"]] == [
        ("client", 2379),
        ("peer", 2380),
    ]
    client = resources.client_service(seed_cluster())
    assert client["metadata"]["name"] == "example-client"
    assert client["spec"]["type"] == "ClusterIP"
    assert [(p["name"], p["port"]) for p in client["spec"]["ports"]] == [("client", 2379)]
    assert client["metadata"]["labels"] == {"app": "etcd", "etcd_cluster": "example"}


def test_template_hash_follows_the_spec_not_the_member() -> None:
    base = resources.template_hash(seed_cluster())
    assert resources.template_hash(seed_cluster()) == base  # deterministic
    assert resources.template_hash(seed_cluster(spec__version="3.7.3")) != base
    assert resources.template_hash(seed_cluster(spec__pod__labels={"team": "a"})) != base
    assert resources.template_hash(seed_cluster(spec__size=5)) == base  # size is not a pod's
    one = resources.member_pod(seed_cluster(), POD, ((POD, PEER),), "new")
    other = resources.member_pod(seed_cluster(), "example-zzzzzzzzzz", (), "existing")
    key = "etcd.database.coreos.com/template-hash"
    assert one["metadata"]["annotations"][key] == other["metadata"]["annotations"][key] == base
