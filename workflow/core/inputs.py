"""Validation of item data and event input with pydantic models built from a definition.

Each declared field becomes a typed, constrained pydantic field; a model is
built once per (definition, event) and cached. Validated values are returned
in JSON form (dates as ISO text) because that is how item data is stored.
"""

from __future__ import annotations

import datetime as dt
import difflib
import threading
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    create_model,
)

from workflow.definition.model import FieldSpec

__all__ = ["DEFAULT_MAX_LENGTH", "InputProblem", "model_for", "validate_values"]

DEFAULT_MAX_LENGTH = {"string": 200, "text": 20000, "list": 100}
"""Length caps applied when a field declares none, so no input is unbounded."""
_REF_MAX = 128

InputProblem = tuple[str, str]
"""(field, what is wrong with it)."""


class _Values(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _python_type(spec: FieldSpec) -> Any:
    kind = spec.type
    max_length = spec.max_length or DEFAULT_MAX_LENGTH.get(kind)
    if kind in ("string", "text"):
        return Annotated[str, Strict(), Field(min_length=spec.min_length, max_length=max_length)]
    if kind == "integer":
        return Annotated[int, Strict(), Field(ge=spec.min, le=spec.max)]
    if kind == "number":
        return Annotated[float, Field(ge=spec.min, le=spec.max, allow_inf_nan=False)]
    if kind == "boolean":
        return Annotated[bool, Strict()]
    if kind == "date":
        return dt.date
    if kind == "datetime":
        return AwareDatetime
    if kind == "enum":
        return Literal[tuple(spec.options or ())]
    if kind == "ref":
        return Annotated[str, Strict(), Field(min_length=1, max_length=_REF_MAX)]
    element = Annotated[
        str, Strict(), Field(min_length=1, max_length=_REF_MAX if spec.items == "ref" else 200)
    ]
    return Annotated[
        list[element],  # type: ignore[valid-type, unused-ignore]
        Field(min_length=spec.min_length, max_length=max_length),
    ]


def _build(name: str, fields: Mapping[str, FieldSpec], *, all_optional: bool) -> type[BaseModel]:
    definitions: dict[str, Any] = {}
    for field_name, spec in fields.items():
        annotation = _python_type(spec)
        if spec.required and not all_optional:
            definitions[field_name] = (annotation, ...)
        else:
            default = (
                spec.default if spec.default is not None else ([] if spec.type == "list" else None)
            )
            definitions[field_name] = (annotation | None, default)
    return create_model(name, __base__=_Values, **definitions)


_models: dict[tuple[str, str, bool], type[BaseModel]] = {}
_models_lock = threading.Lock()


def model_for(
    cache_key: tuple[str, str], fields: Mapping[str, FieldSpec], *, all_optional: bool = False
) -> type[BaseModel]:
    """Return (and cache) the model validating ``fields``.

    ``cache_key`` is (definition hash, event name): a definition version never
    changes, so the model built for it can be kept for the process's life.
    """
    key = (*cache_key, all_optional)
    model = _models.get(key)
    if model is None:
        with _models_lock:
            model = _models.get(key)
            if model is None:
                name = f"{cache_key[1].strip('@')}_{cache_key[0][:8]}"
                model = _build(name, fields, all_optional=all_optional)
                _models[key] = model
    return model


def _message(error: Any, allowed: list[str]) -> InputProblem:
    loc = [str(part) for part in error["loc"]]
    field = loc[0] if loc else "?"
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(field, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return field, f"unknown field{hint} (expected: {', '.join(allowed) or 'none'})"
    if error["type"] == "missing":
        return field, "is required"
    text = str(error["msg"])
    if len(loc) > 1:
        text = f"item {loc[1]}: {text}"
    return field, text


def validate_values(
    model: type[BaseModel], values: Mapping[str, Any] | None
) -> tuple[dict[str, Any], list[InputProblem]]:
    """Validate ``values``; return (JSON-ready values, problems). Secrets are never echoed.

    Problem messages name the field and the rule broken, never the value
    given, so that nothing typed into a form leaks into logs or errors.
    """
    if values is not None and not isinstance(values, Mapping):
        return {}, [("input", "must be a mapping of field names to values")]
    try:
        validated = model.model_validate(dict(values or {}))
    except ValidationError as error:
        allowed = list(model.model_fields)
        return {}, [
            _message(e, allowed) for e in error.errors(include_url=False, include_input=False)
        ]
    return validated.model_dump(mode="json"), []
