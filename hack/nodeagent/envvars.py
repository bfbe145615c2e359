"""A container's environment, in the kubelet's order and with its expansion rules.

Base variables (KUBERNETES_SERVICE_* and the image's) come first, then `envFrom` sources, then
`env` entries in order; a literal `value` may use `$(VAR)` of anything defined before it.
Secrets and ConfigMaps are passed in already fetched (None = does not exist), so this stays
pure; `referenced_objects` says which to fetch.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from nodeagent.downward import DownwardError, PodFacts, field_value, resource_value
from nodeagent.expand import expand

Obj = dict[str, Any]


class EnvError(Exception):
    """Reported as CreateContainerConfigError; the kubelet retries, and so do we."""


def referenced_objects(container: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(Secret names, ConfigMap names) the container's env needs."""
    secrets: set[str] = set()
    configmaps: set[str] = set()
    for src in container.get("envFrom") or []:
        if src.get("secretRef"):
            secrets.add(src["secretRef"]["name"])
        if src.get("configMapRef"):
            configmaps.add(src["configMapRef"]["name"])
    for var in container.get("env") or []:
        ref = var.get("valueFrom") or {}
        if ref.get("secretKeyRef"):
            secrets.add(ref["secretKeyRef"]["name"])
        if ref.get("configMapKeyRef"):
            configmaps.add(ref["configMapKeyRef"]["name"])
    return secrets, configmaps


def secret_value(secret: Obj, key: str) -> str | None:
    raw = (secret.get("data") or {}).get(key)
    if raw is not None:
        return base64.b64decode(raw).decode(errors="replace")
    string = (secret.get("stringData") or {}).get(key)
    return None if string is None else str(string)


def build_env(
    container: Mapping[str, Any],
    pod: Mapping[str, Any],
    facts: PodFacts,
    base: Mapping[str, str],
    secrets: Mapping[str, Obj | None],
    configmaps: Mapping[str, Obj | None],
    node_allocatable: Mapping[str, str],
) -> dict[str, str]:
    namespace = pod.get("metadata", {}).get("namespace", "")
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix") or ""
        if src.get("configMapRef"):
            ref = src["configMapRef"]
            cm = configmaps.get(ref["name"])
            if cm is None:
                if ref.get("optional"):
                    continue
                raise EnvError(f'configmap "{ref["name"]}" not found')
            env.update({prefix + k: str(v) for k, v in (cm.get("data") or {}).items()})
        if src.get("secretRef"):
            ref = src["secretRef"]
            secret = secrets.get(ref["name"])
            if secret is None:
                if ref.get("optional"):
                    continue
                raise EnvError(f'secret "{ref["name"]}" not found')
            for key in secret.get("data") or {}:
                env[prefix + key] = secret_value(secret, key) or ""
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(str(var.get("value") or ""), {**base, **env})
            continue
        value = _value_from(
            var["valueFrom"],
            container,
            pod,
            facts,
            namespace,
            secrets,
            configmaps,
            node_allocatable,
        )
        if value is not None:
            env[name] = value
    return {**base, **env}


def _value_from(
    ref: Mapping[str, Any],
    container: Mapping[str, Any],
    pod: Mapping[str, Any],
    facts: PodFacts,
    namespace: str,
    secrets: Mapping[str, Obj | None],
    configmaps: Mapping[str, Obj | None],
    node_allocatable: Mapping[str, str],
) -> str | None:
    """The value, or None when an optional reference is missing (the variable is skipped)."""
    try:
        if "fieldRef" in ref:
            return field_value(pod, ref["fieldRef"]["fieldPath"], facts)
        if "resourceFieldRef" in ref:
            rf = ref["resourceFieldRef"]
            target = container
            if rf.get("containerName"):
                target = _find_container(pod, rf["containerName"]) or container
            return resource_value(target, rf["resource"], rf.get("divisor"), node_allocatable)
    except DownwardError as exc:
        raise EnvError(str(exc)) from exc
    if "secretKeyRef" in ref:
        sk = ref["secretKeyRef"]
        secret = secrets.get(sk["name"])
        if secret is None:
            if sk.get("optional"):
                return None
            raise EnvError(f'secret "{sk["name"]}" not found')
        value = secret_value(secret, sk["key"])
        if value is None and not sk.get("optional"):
            raise EnvError(f"couldn't find key {sk['key']} in Secret {namespace}/{sk['name']}")
        return value
    if "configMapKeyRef" in ref:
        ck = ref["configMapKeyRef"]
        cm = configmaps.get(ck["name"])
        if cm is None:
            if ck.get("optional"):
                return None
            raise EnvError(f'configmap "{ck["name"]}" not found')
        value = (cm.get("data") or {}).get(ck["key"])
        if value is None and not ck.get("optional"):
            raise EnvError(f"couldn't find key {ck['key']} in ConfigMap {namespace}/{ck['name']}")
        return None if value is None else str(value)
    raise EnvError(f"unsupported valueFrom {sorted(ref)}")


def _find_container(pod: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    spec = pod.get("spec", {})
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if c.get("name") == name:
            return c
    return None
