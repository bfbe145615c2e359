"""Turns pydantic's JSON Schema into the structural OpenAPI v3 subset a CRD must use.

pydantic writes `$ref`/`$defs`, `anyOf [X, null]` for optional fields, `const`, titles and
`additionalProperties: true` for models that keep extra fields; the API server rejects or
misreads all of these. The conversion inlines references, collapses optionals, and keeps only
the keywords listed below, failing loudly on anything else so a new construct in the types
cannot slip a non-structural schema into manifests/crds.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

# Keywords a CRD schema node may carry (the subset this project uses).
ALLOWED_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "properties",
        "required",
        "items",
        "additionalProperties",
        "enum",
        "default",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "maxProperties",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-validations",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
    }
)
_DROPPED = frozenset({"title", "examples"})
# Formats the API server validates; pydantic may emit others (uri, email, ...) that it ignores.
_KNOWN_FORMATS = frozenset({"date-time", "date", "int32", "int64", "byte"})


def to_structural(json_schema: Schema) -> Schema:
    """The structural equivalent of a pydantic `model_json_schema()` result."""
    defs = json_schema.get("$defs", {})
    root = {k: v for k, v in json_schema.items() if k != "$defs"}
    return _convert(root, defs, "")


def _resolve(node: Schema, defs: dict[str, Schema], path: str) -> Schema:
    """Inlines `$ref` and collapses `anyOf: [X, {type: null}]`; the node's own keys win."""
    while "$ref" in node or "anyOf" in node:
        rest = {k: v for k, v in node.items() if k not in ("$ref", "anyOf")}
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
        else:
            variants = [v for v in node["anyOf"] if v != {"type": "null"}]
            if len(variants) != 1:
                raise ValueError(f"{path or '<root>'}: a union is not structural: {node['anyOf']}")
            target = variants[0]
        node = {**target, **rest}
    return node


def _is_zero(value: Any) -> bool:
    return value is None or value is False or value in (0, "", [], {})


def _convert(node: Schema, defs: dict[str, Schema], path: str) -> Schema:
    node = _resolve(node, defs, path)
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "default":
            # A zero default means the same as an absent field; writing it would only add noise.
            if not _is_zero(value):
                out["default"] = value
        elif key == "description":
            # Docstrings may wrap; one line per description keeps `kubectl explain` tidy.
            out["description"] = " ".join(value.split())
        elif key == "format":
            if value in _KNOWN_FORMATS:
                out["format"] = value
        elif key == "properties":
            out["properties"] = {
                name: _convert(sub, defs, f"{path}.{name}") for name, sub in value.items()
            }
        elif key == "items":
            out["items"] = _convert(value, defs, f"{path}[]")
        elif key == "additionalProperties":
            # `true` comes from models that keep extra fields; the CRD says so explicitly with
            # x-kubernetes-preserve-unknown-fields where it is wanted, and prunes elsewhere.
            if isinstance(value, dict):
                out["additionalProperties"] = _convert(value, defs, f"{path}.*")
        elif key in ALLOWED_KEYWORDS:
            out[key] = value
        else:
            raise ValueError(f"{path or '<root>'}: keyword {key!r} has no structural equivalent")
    return out


def structural_errors(schema: Schema, path: str = "") -> list[str]:
    """Why `schema` is not a structural schema the API server accepts; empty when it is."""
    where = path or "<root>"
    errors = [f"{where}: keyword {k!r} not allowed" for k in schema if k not in ALLOWED_KEYWORDS]
    if "type" not in schema and not schema.get("x-kubernetes-int-or-string"):
        errors.append(f"{where}: no type")
    if "properties" in schema and "additionalProperties" in schema:
        errors.append(f"{where}: properties and additionalProperties are mutually exclusive")
    if schema.get("type") != "object" and (
        "properties" in schema or "additionalProperties" in schema
    ):
        errors.append(f"{where}: properties on a node that is not an object")
    if schema.get("type") == "array" and "items" not in schema:
        errors.append(f"{where}: array without items")
    for name in schema.get("required", []):
        if name not in schema.get("properties", {}):
            errors.append(f"{where}: required field {name!r} is not a property")
    if schema.get("x-kubernetes-list-type") == "map":
        item_required = schema.get("items", {}).get("required", [])
        for key in schema.get("x-kubernetes-list-map-keys", []):
            if key not in item_required:
                errors.append(f"{where}: list map key {key!r} must be required in the items")
    for name, sub in schema.get("properties", {}).items():
        errors += structural_errors(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        errors += structural_errors(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        errors += structural_errors(schema["additionalProperties"], f"{path}.*")
    return errors
