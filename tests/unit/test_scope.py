"""The CoreOS scope rule: which operator instance manages which CR."""

from __future__ import annotations

from controller.common.scope import SCOPE_ANNOTATION, is_managed, watch_namespace


def cr(annotations: dict[str, str] | None = None) -> dict[str, object]:
    return {"metadata": {"name": "example", "namespace": "default", "annotations": annotations}}


def test_cluster_wide_operator_manages_only_annotated_crs() -> None:
    assert is_managed(cr({SCOPE_ANNOTATION: "clusterwide"}), cluster_wide=True)
    assert not is_managed(cr(), cluster_wide=True)
    assert not is_managed(cr({SCOPE_ANNOTATION: "namespaced"}), cluster_wide=True)


def test_namespaced_operator_manages_only_unannotated_crs() -> None:
    assert is_managed(cr(), cluster_wide=False)
    assert is_managed(cr({"other": "x"}), cluster_wide=False)
    assert not is_managed(cr({SCOPE_ANNOTATION: "clusterwide"}), cluster_wide=False)


def test_seed_example_is_cluster_wide() -> None:
    # manifests/example-etcd-cluster.yaml carries the annotation
    seed = cr({SCOPE_ANNOTATION: "clusterwide"})
    assert is_managed(seed, cluster_wide=True) and not is_managed(seed, cluster_wide=False)


def test_watch_scope() -> None:
    assert watch_namespace("ops", cluster_wide=True) is None
    assert watch_namespace("ops", cluster_wide=False) == "ops"
