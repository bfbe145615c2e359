"""Container environments: order, expansion and references."""

import base64
from collections.abc import Mapping

import pytest
from nodeagent.downward import PodFacts
from nodeagent.envvars import EnvError, Obj, build_env, referenced_objects

POD = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "etcd"}},
    "spec": {"nodeName": "node-1", "serviceAccountName": "sa"},
}
FACTS = PodFacts(pod_ip="10.213.1.5", host_ip="127.0.0.1")
SECRET = {"data": {"password": base64.b64encode(b"s3cret").decode()}}
CM = {"data": {"mode": "fast", "level": "3"}}


def env_of(
    container: dict,
    secrets: Mapping[str, Obj | None] | None = None,
    cms: Mapping[str, Obj | None] | None = None,
) -> dict[str, str]:
    return build_env(
        container,
        POD,
        FACTS,
        {"KUBERNETES_SERVICE_HOST": "10.213.0.1"},
        secrets or {},
        cms or {},
        {"cpu": "2", "memory": "1Gi"},
    )


def field(path: str) -> dict:
    return {"valueFrom": {"fieldRef": {"fieldPath": path}}}


def test_field_refs() -> None:
    env = env_of(
        {
            "env": [
                {"name": "NAME", **field("metadata.name")},
                {"name": "NS", **field("metadata.namespace")},
                {"name": "UID", **field("metadata.uid")},
                {"name": "IP", **field("status.podIP")},
                {"name": "NODE", **field("spec.nodeName")},
                {"name": "SA", **field("spec.serviceAccountName")},
                {"name": "APP", **field("metadata.labels['app']")},
            ]
        }
    )
    assert (env["NAME"], env["NS"], env["UID"], env["IP"], env["NODE"], env["SA"], env["APP"]) == (
        "p",
        "ns",
        "u-1",
        "10.213.1.5",
        "node-1",
        "sa",
        "etcd",
    )
    assert env["KUBERNETES_SERVICE_HOST"] == "10.213.0.1"


def test_values_expand_earlier_variables_only() -> None:
    env = env_of(
        {
            "env": [
                {"name": "A", "value": "a"},
                {"name": "B", "value": "$(A)-$(C)-$(KUBERNETES_SERVICE_HOST)"},
                {"name": "C", "value": "c"},
                {"name": "D", "value": "$$(A)"},
            ]
        }
    )
    assert env["B"] == "a-$(C)-10.213.0.1"
    assert env["D"] == "$(A)"


def test_secret_and_configmap_refs() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        "env": [
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "mode"}}},
            {"name": "CM_level", "value": "override"},
        ],
    }
    assert referenced_objects(container) == ({"s"}, {"cm"})
    env = env_of(container, {"s": SECRET}, {"cm": CM})
    assert env["PW"] == "s3cret" and env["MODE"] == "fast"
    assert env["CM_mode"] == "fast" and env["CM_level"] == "override"


def test_missing_references() -> None:
    optional = {
        "env": [
            {
                "name": "X",
                "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": True}},
            }
        ]
    }
    assert "X" not in env_of(optional, {"gone": None})
    required = {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}]}
    with pytest.raises(EnvError, match='secret "gone" not found'):
        env_of(required, {"gone": None})
    no_key = {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}
    with pytest.raises(EnvError, match="couldn't find key k in ConfigMap ns/cm"):
        env_of(no_key, cms={"cm": CM})


def test_resource_field_refs() -> None:
    container = {
        "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "250m"}},
        "env": [
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
            {
                "name": "CPU",
                "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}},
            },
            {"name": "LCPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ],
    }
    env = env_of(container)
    assert (env["MEM"], env["CPU"], env["LCPU"]) == ("128", "250", "2")
