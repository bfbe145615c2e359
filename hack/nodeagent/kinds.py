"""Kinds only the node agent and the tests' environment set-up use (the operator's own
descriptors live in controller.clients.kube and controller.common.resources; NODES, which
both use, is the client's)."""

from controller.clients.kube import NODES as NODES  # re-exported: the node agent imports it here
from controller.clients.kube import Resource

PVS = Resource("", "v1", "persistentvolumes", "PersistentVolume", namespaced=False)
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
ENDPOINT_SLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
STORAGE_CLASSES = Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", False)
