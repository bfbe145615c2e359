"""A pod's volumes as host directories, ready to be bind-mounted into its containers.

emptyDir → a directory under the pod's state dir (removed with the pod; `medium: Memory` is
disk here too). secret / configMap / downwardAPI / projected (incl. the ServiceAccount token
the API server injects as `kube-api-access-*`) → files written by the atomic writer and
re-rendered by `refresh()` (so changed Secrets and rotated tokens reach running containers).
persistentVolumeClaim (and generic ephemeral volumes) → the bound PV's `hostPath.path` or
`local.path`. hostPath → the path itself. Anything not ready yet (a Pending PVC, a missing
Secret) raises `VolumeNotReady`; the pod stays ContainerCreating and the worker retries.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.clients.kube import CONFIGMAPS, PVCS, SECRETS, ApiError, KubeClient
from nodeagent import atomicwriter
from nodeagent.atomicwriter import FileProjection
from nodeagent.downward import DownwardError, PodFacts, field_value, resource_value
from nodeagent.kinds import PVS

log = logging.getLogger(__name__)
Obj = dict[str, Any]
DEFAULT_MODE = 0o644
TOKEN_MAX_AGE = 24 * 3600.0


class VolumeNotReady(Exception):
    """Retryable: shown as the containers' ContainerCreating message."""


@dataclass(frozen=True)
class Volume:
    name: str
    path: Path
    read_only: bool  # forced read-only (generated content, read-only claims)


@dataclass
class _Token:
    token: str
    refresh_at: float


class PodVolumes:
    def __init__(
        self,
        kube: KubeClient,
        pod: Obj,
        pod_dir: Path,
        facts: PodFacts,
        node_allocatable: Mapping[str, str],
    ):
        self.kube = kube
        self.pod = pod
        self.namespace = pod["metadata"]["namespace"]
        self.root = pod_dir / "volumes"
        self.facts = facts
        self.node_allocatable = node_allocatable
        self.volumes: dict[str, Volume] = {}
        self._tokens: dict[tuple[str, int], _Token] = {}

    async def prepare(self) -> dict[str, Volume]:
        """Every volume of the pod, set up (idempotent)."""
        for spec in self.pod["spec"].get("volumes") or []:
            self.volumes[spec["name"]] = await self._setup(spec)
        return self.volumes

    async def refresh(self) -> None:
        """Re-renders generated volumes (Secrets, ConfigMaps, tokens, downward API)."""
        for spec in self.pod["spec"].get("volumes") or []:
            if _kind(spec) in ("secret", "configMap", "downwardAPI", "projected"):
                try:
                    await self._setup(spec)
                except (VolumeNotReady, ApiError) as exc:
                    log.info("refreshing volume %s: %s", spec["name"], exc)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    async def _setup(self, spec: Obj) -> Volume:
        name, kind = spec["name"], _kind(spec)
        src = spec.get(kind) or {}
        if kind == "emptyDir":
            path = self.root / "empty-dir" / name
            if not path.is_dir():
                path.mkdir(parents=True)
                os.chmod(path, 0o777)
            return Volume(name, path, False)
        if kind == "hostPath":
            return Volume(name, _host_path(src), False)
        if kind in ("persistentVolumeClaim", "ephemeral"):
            claim = src.get("claimName") or f"{self.pod['metadata']['name']}-{name}"
            path, ro = await self._claim_path(claim)
            return Volume(name, path, ro or bool(src.get("readOnly")))
        if kind in ("secret", "configMap", "downwardAPI", "projected"):
            payload = await self._payload(kind, src)
            path = self.root / kind / name
            atomicwriter.write(path, payload)
            return Volume(name, path, True)
        raise VolumeNotReady(f'volume "{name}": type {kind or "?"} is not supported here')

    async def _payload(self, kind: str, src: Obj) -> dict[str, FileProjection]:
        mode = int(src.get("defaultMode", DEFAULT_MODE))
        if kind == "projected":
            out: dict[str, FileProjection] = {}
            for source in src.get("sources") or []:
                out.update(await self._projection(source, mode))
            return out
        return await self._projection({kind: src}, mode)

    async def _projection(self, source: Obj, mode: int) -> dict[str, FileProjection]:
        if "secret" in source or "configMap" in source:
            kind = "secret" if "secret" in source else "configMap"
            ref = source[kind]
            name = ref.get("secretName") or ref.get("name", "")
            obj = await self._get(SECRETS if kind == "secret" else CONFIGMAPS, name)
            if obj is None:
                if ref.get("optional"):
                    return {}
                raise VolumeNotReady(f'{kind.lower()} "{name}" not found')
            data = _object_data(obj, kind)
            return _select_items(data, ref.get("items"), mode, f"{kind} {name}", ref)
        if "downwardAPI" in source:
            return self._downward(source["downwardAPI"].get("items") or [], mode)
        if "serviceAccountToken" in source:
            tok = source["serviceAccountToken"]
            token = await self._token(
                tok.get("audience") or "", int(tok.get("expirationSeconds") or 3600)
            )
            return {tok["path"]: FileProjection(token.encode(), mode)}
        raise VolumeNotReady(f"projected source {sorted(source)} is not supported here")

    def _downward(self, items: list[Obj], mode: int) -> dict[str, FileProjection]:
        out = {}
        for item in items:
            try:
                if "fieldRef" in item:
                    value = field_value(self.pod, item["fieldRef"]["fieldPath"], self.facts)
                else:
                    rf = item["resourceFieldRef"]
                    container = _container(self.pod, rf.get("containerName", ""))
                    value = resource_value(
                        container, rf["resource"], rf.get("divisor"), self.node_allocatable
                    )
            except DownwardError as exc:
                raise VolumeNotReady(str(exc)) from exc
            out[item["path"]] = FileProjection(value.encode(), int(item.get("mode", mode)))
        return out

    async def _token(self, audience: str, expiration: int) -> str:
        key = (audience, expiration)
        cached = self._tokens.get(key)
        if cached and time.time() < cached.refresh_at:
            return cached.token
        meta = self.pod["metadata"]
        sa = self.pod["spec"].get("serviceAccountName") or "default"
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [audience] if audience else [],
                "expirationSeconds": expiration,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }
        path = f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{sa}/token"
        try:
            resp = await self.kube.request("POST", path, body=body)
        except ApiError as exc:
            raise VolumeNotReady(f"requesting a token for serviceaccount {sa}: {exc}") from exc
        # Refresh at 80% of the lifetime asked for (the kubelet's rule), at most daily.
        refresh = min(0.8 * expiration, TOKEN_MAX_AGE)
        self._tokens[key] = _Token(resp["status"]["token"], time.time() + refresh)
        return self._tokens[key].token

    async def _claim_path(self, claim: str) -> tuple[Path, bool]:
        pvc = await self._get(PVCS, claim)
        if pvc is None:
            raise VolumeNotReady(f'persistentvolumeclaim "{claim}" not found')
        pv_name = pvc.get("spec", {}).get("volumeName")
        if pvc.get("status", {}).get("phase") != "Bound" or not pv_name:
            raise VolumeNotReady(f'persistentvolumeclaim "{claim}" is not bound yet')
        try:
            pv = await self.kube.get(PVS, pv_name)
        except ApiError as exc:
            raise VolumeNotReady(f'persistentvolume "{pv_name}": {exc}') from exc
        spec = pv.get("spec", {})
        raw = (spec.get("hostPath") or {}).get("path") or (spec.get("local") or {}).get("path")
        if not raw:
            raise VolumeNotReady(f'persistentvolume "{pv_name}" has no hostPath or local path')
        return _existing_dir(Path(raw), pv_name), False

    async def _get(self, res: Any, name: str) -> Obj | None:
        try:
            return await self.kube.get(res, name, self.namespace)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise VolumeNotReady(f"reading {res.kind} {name}: {exc}") from exc


def _existing_dir(path: Path, pv_name: str) -> Path:
    if not path.exists():
        log.info("creating missing directory %s of PV %s", path, pv_name)
        path.mkdir(parents=True, exist_ok=True)
    return path


def _kind(spec: Obj) -> str:
    for key in spec:
        if key != "name":
            return key
    return ""


def _object_data(obj: Obj, kind: str) -> dict[str, bytes]:
    if kind == "secret":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return data


def _select_items(
    data: Mapping[str, bytes], items: list[Obj] | None, mode: int, what: str, ref: Obj
) -> dict[str, FileProjection]:
    if not items:
        return {k: FileProjection(v, mode) for k, v in data.items()}
    out = {}
    for item in items:
        if item["key"] not in data:
            if ref.get("optional"):
                continue
            raise VolumeNotReady(f"{what} has no key {item['key']!r}")
        out[item["path"]] = FileProjection(data[item["key"]], int(item.get("mode", mode)))
    return out


def _container(pod: Obj, name: str) -> Obj | None:
    spec = pod.get("spec", {})
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if c.get("name") == name:
            return c
    return None


def _host_path(src: Obj) -> Path:
    path, kind = Path(src["path"]), src.get("type") or ""
    if kind == "DirectoryOrCreate" and not path.exists():
        path.mkdir(parents=True, mode=0o755)
    elif kind == "FileOrCreate" and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(0o644)
    elif kind == "Directory" and not path.is_dir():
        raise VolumeNotReady(f"hostPath type check failed: {path} is not a directory")
    elif kind == "File" and not path.is_file():
        raise VolumeNotReady(f"hostPath type check failed: {path} is not a file")
    elif kind == "Socket" and not path.is_socket():
        raise VolumeNotReady(f"hostPath type check failed: {path} is not a socket")
    return path
