"""JSON values, typed without Any, and checked narrowing helpers."""

from __future__ import annotations

from typing import TypeAlias

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = dict[str, JsonValue]


class JsonShapeError(Exception):
    """A JSON value is not of the shape the caller needs."""


def as_object(value: object, where: str) -> JsonObject:
    """``value`` as a JSON object, or an error naming ``where``."""
    if not isinstance(value, dict):
        raise JsonShapeError(f"{where}: expected an object, got {type(value).__name__}")
    out: JsonObject = {}
    for key, item in value.items():
        out[str(key)] = as_json(item, f"{where}.{key}")
    return out


def as_json(value: object, where: str) -> JsonValue:
    """``value`` checked to be JSON all the way down."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [as_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        return as_object(value, where)
    raise JsonShapeError(f"{where}: not a JSON value: {type(value).__name__}")


def as_str(value: object, where: str) -> str:
    """``value`` as a string, or an error naming ``where``."""
    if not isinstance(value, str):
        raise JsonShapeError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def as_list(value: object, where: str) -> list[JsonValue]:
    """``value`` as a JSON array, or an error naming ``where``."""
    if not isinstance(value, list):
        raise JsonShapeError(f"{where}: expected an array, got {type(value).__name__}")
    return [as_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
