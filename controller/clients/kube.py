"""Raw JSON client for the Kubernetes API: the one place that imports kubernetes_asyncio.

Objects are plain dicts exactly as the API serves them (no generated models): the informer
caches them, reconcilers read them, and CRs are validated into pydantic types in `api/`.
kubernetes_asyncio supplies configuration loading (kubeconfig, in-cluster token rotation)
and its authenticated aiohttp session; requests and watch streams are made here.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

Obj = dict[str, Any]

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Hooks around every request (see KubeClient.instrument): awaited with the HTTP verb before
# the request is sent, then told the verb and the answer's status code (0: no answer came).
BeforeRequest = Callable[[str], Awaitable[None]]
AfterRequest = Callable[[str, int], None]


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API: enough to build every URL for it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, sub: str = "") -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        if sub:
            base += f"/{sub}"
        return base


PODS = Resource("", "v1", "pods", "Pod")
SERVICES = Resource("", "v1", "services", "Service")
PVCS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
SECRETS = Resource("", "v1", "secrets", "Secret")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
EVENTS = Resource("", "v1", "events", "Event")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
PDBS = Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)


class ApiError(Exception):
    """A non-2xx answer from the API server, with its Status fields."""

    def __init__(self, status: int, body: Obj | str):
        self.status = status
        self.body = body
        if isinstance(body, dict):
            self.reason = str(body.get("reason", ""))
            self.message = str(body.get("message", ""))
        else:
            self.reason, self.message = "", str(body)[:500]
        super().__init__(f"{status} {self.reason}: {self.message}")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410


class KubeClient:
    """Authenticated JSON access to one API server."""

    def __init__(self, api: k8s_client.ApiClient):
        self._api = api
        self._before: BeforeRequest | None = None
        self._after: AfterRequest | None = None

    def instrument(self, before: BeforeRequest, after: AfterRequest) -> None:
        """Calls `before(verb)` ahead of every request (a client-side throttle waits there)
        and `after(verb, status)` once its answer's status is known, 0 if none came.

        A watch is one request: its start is hooked, its long-lived stream is not. The
        runtime supplies the hooks (controller.runtime.apiclient): clients import nothing
        above them.
        """
        self._before, self._after = before, after

    @classmethod
    async def connect(cls, kubeconfig: str | None = None) -> KubeClient:
        """In-cluster config when running in a pod, else the kubeconfig (or $KUBECONFIG)."""
        cfg = k8s_client.Configuration()
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            k8s_config.load_incluster_config(client_configuration=cfg)
        else:
            await k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        return cls(k8s_client.ApiClient(configuration=cfg))

    @property
    def host(self) -> str:
        return str(self._api.configuration.host)

    async def close(self) -> None:
        await self._api.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = JSON,
        timeout: float | aiohttp.ClientTimeout | None = 30.0,
    ) -> aiohttp.ClientResponse:
        query = [(k, _query_value(v)) for k, v in (params or {}).items() if v is not None]
        if self._before is not None:
            await self._before(method)
        try:
            resp: aiohttp.ClientResponse = await self._api.call_api(
                path,
                method,
                query_params=query,
                header_params={"Accept": JSON, "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
            )
        except Exception:  # refused, reset, timed out: counted as a request without answer
            if self._after is not None:
                self._after(method, 0)
            raise
        if self._after is not None:
            self._after(method, resp.status)
        return resp

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = JSON,
        timeout: float = 30.0,
    ) -> Obj:
        """One request; the decoded JSON answer, or ApiError."""
        resp = await self._send(
            method, path, params=params, body=body, content_type=content_type, timeout=timeout
        )
        async with resp:
            raw = await resp.read()
            data = _decode(raw)
            if not 200 <= resp.status <= 299:
                raise ApiError(resp.status, data)
            return data if isinstance(data, dict) else {}

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> Obj:
        return await self.request("GET", res.path(namespace, name))

    async def list(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
    ) -> Obj:
        params = {
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "limit": limit,
            "continue": continue_token,
            "resourceVersion": resource_version,
        }
        return await self.request("GET", res.path(namespace), params=params, timeout=120.0)

    async def create(self, res: Resource, obj: Obj, namespace: str | None = None) -> Obj:
        ns = namespace or obj.get("metadata", {}).get("namespace")
        return await self.request("POST", res.path(ns), body=obj)

    async def replace(self, res: Resource, obj: Obj, sub: str = "") -> Obj:
        meta = obj["metadata"]
        return await self.request(
            "PUT", res.path(meta.get("namespace"), meta["name"], sub), body=obj
        )

    async def patch(
        self,
        res: Resource,
        name: str,
        patch: Obj,
        namespace: str | None = None,
        *,
        content_type: str = MERGE_PATCH,
        sub: str = "",
        field_manager: str | None = None,
        force: bool | None = None,
    ) -> Obj:
        params = {"fieldManager": field_manager, "force": force}
        return await self.request(
            "PATCH",
            res.path(namespace, name, sub),
            params=params,
            body=patch,
            content_type=content_type,
        )

    async def delete(
        self,
        res: Resource,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        propagation: str | None = None,
        preconditions: Obj | None = None,
    ) -> Obj:
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if propagation:
            body["propagationPolicy"] = propagation
        if preconditions:
            body["preconditions"] = preconditions
        return await self.request("DELETE", res.path(namespace, name), body=body)

    async def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
        allow_bookmarks: bool = True,
        label_selector: str | None = None,
        field_selector: str | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[Obj]:
        """Yields raw watch events ({"type", "object"}) until the server closes the stream.

        An ERROR event is yielded as is (the caller decides what 410 means); a non-2xx
        answer to the request itself raises ApiError. `read_timeout` bounds the silence
        between two lines, so a dead connection cannot hang a watcher forever.
        """
        params = {
            "watch": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": allow_bookmarks,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
        }
        timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_read=read_timeout)
        resp = await self._send("GET", res.path(namespace), params=params, timeout=timeout)
        async with resp:
            if not 200 <= resp.status <= 299:
                raise ApiError(resp.status, _decode(await resp.read()))
            while True:
                line = await resp.content.readline()
                if not line:
                    return
                line = line.strip()
                if line:
                    yield json.loads(line)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _decode(raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
