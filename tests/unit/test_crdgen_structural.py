"""The pydantic-JSON-Schema to structural-OpenAPI conversion, on small hand-written inputs."""

from __future__ import annotations

from typing import Any

import pytest

from api.crdgen.structural import structural_errors, to_structural


def test_references_are_inlined_and_the_field_description_wins() -> None:
    schema = {
        "$defs": {
            "Pod": {"type": "object", "title": "Pod", "description": "class doc", "properties": {}}
        },
        "type": "object",
        "properties": {"pod": {"$ref": "#/$defs/Pod", "description": "field doc"}},
    }
    assert to_structural(schema) == {
        "type": "object",
        "properties": {"pod": {"type": "object", "description": "field doc", "properties": {}}},
    }


def test_optional_collapses_to_its_type_and_null_or_zero_defaults_go() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "b": {"type": "boolean", "default": False},
            "c": {"type": "string", "default": "3.6.16"},
            "d": {"type": "string", "const": "X"},
        },
    }
    assert to_structural(schema)["properties"] == {
        "a": {"type": "string"},
        "b": {"type": "boolean"},
        "c": {"type": "string", "default": "3.6.16"},
        "d": {"type": "string", "enum": ["X"]},
    }


def test_extra_allowed_models_do_not_leak_additional_properties_true() -> None:
    schema = {"type": "object", "additionalProperties": True, "properties": {}}
    assert to_structural(schema) == {"type": "object", "properties": {}}


def test_descriptions_become_one_line() -> None:
    schema = {"type": "string", "description": "two\n    lines"}
    assert to_structural(schema) == {"type": "string", "description": "two lines"}


@pytest.mark.parametrize(
    "schema",
    [
        {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        {"type": "integer", "exclusiveMinimum": 0},
        {"type": "string", "oneOf": [{"type": "string"}]},
    ],
)
def test_constructs_without_a_structural_equivalent_are_refused(schema: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        to_structural(schema)


def test_structural_errors_are_reported_with_their_path() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"properties": {}},
            "b": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
            "c": {"type": "array"},
            "d": {
                "type": "array",
                "items": {"type": "object"},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
        },
        "required": ["e"],
    }
    errors = structural_errors(schema)
    assert ".a: no type" in errors
    assert ".b: properties and additionalProperties are mutually exclusive" in errors
    assert ".c: array without items" in errors
    assert ".d: list map key 'name' must be required in the items" in errors
    assert "<root>: required field 'e' is not a property" in errors
