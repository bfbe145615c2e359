"""Generates manifests/crds from the API types: one deterministic YAML file per CRD."""

from __future__ import annotations

import json

import yaml

from api.crdgen.crds import CRDS, crd_document

HEADER = "# Generated from api/ by `make manifests` (python -m api.crdgen); do not edit.\n"


def render_crds() -> dict[str, str]:
    """File name (`<plural>.<group>.yaml`) to file content, for every CRD of the API."""
    files = {}
    for crd in CRDS:
        # A JSON round trip unshares repeated sub-objects, which YAML would write as &anchors.
        document = json.loads(json.dumps(crd_document(crd)))
        text = yaml.safe_dump(document, sort_keys=True, default_flow_style=False, width=100)
        files[f"{crd.model.names.crd_name}.yaml"] = HEADER + text
    return files
