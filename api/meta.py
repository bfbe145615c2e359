"""What every type of the API shares: the group/version, the wire-format base models, metadata.

Field names are snake_case in Python and spelled as on the wire in JSON (camelCase, plus
CoreOS's oddities given explicitly with `wire_name`). Unknown fields are kept, never dropped:
the API server already prunes or rejects what the CRD schema does not know, so whatever reaches
the models is worth writing back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator
from pydantic.alias_generators import to_camel

GROUP = "etcd.database.coreos.com"
VERSION = "v1beta2"
API_VERSION = f"{GROUP}/{VERSION}"


@dataclass(frozen=True)
class CrossFieldRule:
    """A rule spanning fields: a CEL expression for the API server and the same check in Python.

    `check` receives the model instance and returns True when the object is valid. `message`
    names the fields involved; both layers report it verbatim. `field_path` (relative to the
    object the rule sits on) is where the API server reports the error, `reason` how
    (FieldValueInvalid by default, FieldValueRequired for a missing field).
    """

    cel: str
    message: str
    check: Callable[[Any], bool]
    field_path: str | None = None
    reason: str | None = None

    def to_schema(self) -> dict[str, str]:
        rule = {"rule": self.cel, "message": self.message}
        if self.field_path:
            rule["fieldPath"] = self.field_path
        if self.reason:
            rule["reason"] = self.reason
        return rule


def _schema_extra(schema: dict[str, Any], model: type[BaseModel]) -> None:
    rules: tuple[CrossFieldRule, ...] = getattr(model, "cross_field_rules", ())
    if rules:
        schema["x-kubernetes-validations"] = [r.to_schema() for r in rules]
    if getattr(model, "preserve_unknown_fields", False):
        schema["x-kubernetes-preserve-unknown-fields"] = True


class WireModel(BaseModel):
    """Base of every object inside the API types: wire spelling, unknown fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        use_attribute_docstrings=True,
        json_schema_extra=_schema_extra,
    )

    cross_field_rules: ClassVar[tuple[CrossFieldRule, ...]] = ()
    # True for embedded Kubernetes types: the CRD keeps fields the schema does not list.
    preserve_unknown_fields: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        """A null field is an absent one, as the API server treats it (it prunes nulls). Go
        clients such as CoreOS's operator write nulls for empty slices and zero times."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data

    @model_validator(mode="after")
    def _check_cross_field_rules(self) -> Self:
        for rule in self.cross_field_rules:
            if not rule.check(self):
                raise ValueError(rule.message)
        return self


def wire_name(name: str, **kwargs: Any) -> Any:
    """A field whose wire name is not the camelCase of its Python name (e.g. `TLS`, `Reason`)."""
    return Field(validation_alias=name, serialization_alias=name, **kwargs)


def _format_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# RFC 3339 at second precision in UTC, as metav1.Time writes it.
Timestamp = Annotated[datetime, PlainSerializer(_format_timestamp, return_type=str)]


class OwnerReference(WireModel):
    """Points at the object that owns this one (garbage collection, controller ownership)."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(WireModel):
    """The standard Kubernetes object metadata; fields not listed here are kept as they come."""

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    # Kept as the API server's strings so metadata round-trips byte for byte.
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: list[OwnerReference] = Field(default_factory=list)
    finalizers: list[str] = Field(default_factory=list)
    managed_fields: list[dict[str, Any]] = Field(default_factory=list)


def mark_changed_fields_set(model: BaseModel) -> None:
    """Count a field as set when its value differs from its default.

    `exclude_unset` output would otherwise drop a default list or sub-object that code filled in
    place (e.g. `obj.status.conditions.append(...)` on a freshly defaulted status).
    """
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        for child in _models_in(value):
            mark_changed_fields_set(child)
        if name not in model.model_fields_set:
            if value != info.get_default(call_default_factory=True):
                model.model_fields_set.add(name)


def _models_in(value: object) -> list[BaseModel]:
    if isinstance(value, BaseModel):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, BaseModel)]
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, BaseModel)]
    return []


@dataclass(frozen=True)
class ResourceNames:
    """How a kind is addressed: what the CRD's `names` stanza and the REST paths use."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


class KubeObject(WireModel):
    """A top-level object of this API: apiVersion, kind, metadata, spec and status."""

    names: ClassVar[ResourceNames]

    api_version: str = API_VERSION
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @model_validator(mode="before")
    @classmethod
    def _check_type_meta(cls, data: Any) -> Any:
        """Rejects another kind up front, rather than with errors about its fields."""
        if isinstance(data, dict):
            api_version = data.get("apiVersion", API_VERSION)
            kind = data.get("kind", cls.names.kind)
            if api_version != API_VERSION:
                raise ValueError(f"apiVersion must be {API_VERSION}, not {api_version!r}")
            if kind != cls.names.kind:
                raise ValueError(f"kind must be {cls.names.kind}, not {kind!r}")
        return data

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or ""

    def to_dict(self) -> dict[str, Any]:
        """The object as the API expects it: wire names, only fields that were set or changed.

        apiVersion and kind always come first, so an object built in code can be sent as is.
        """
        mark_changed_fields_set(self)
        body = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return {"apiVersion": self.api_version, "kind": self.kind, **body}
