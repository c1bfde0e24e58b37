"""Events to and from JSON text, validated against the schemas.

- ``encode_event``: compact JSON of a generated TypedDict (no NaN or Infinity: JSON has none).
- ``decode_event``: text -> a validated v1 or legacy event, or ``EventDecodeError``; numbers
  are read as the bot reads them (``json_numbers``: whole numbers exact, no NaN/Infinity).
- ``validate_request``: a parsed job request -> ``DigitsTrainV1``, or ``RequestValidationError``.
- ``decode_request``: the JSON text of a job request -> ``DigitsTrainV1`` (as the bot's
  ``decodeTrainRequest``), or ``RequestValidationError``.

Every error names what is wrong and where, as a JSON path (``$.epochs``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeGuard

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import relevance

from handwriting_ai.contracts import (
    DIGITS_EVENT_V1_TYPES,
    LEGACY_EVENT_TYPES,
    DigitsEventV1,
    DigitsTrainV1,
    LegacyEvent,
)
from handwriting_ai.contracts.names import REQUEST_V1
from handwriting_ai.events import json_numbers
from handwriting_ai.events.schemas import integer_fields, validator_for

Event = DigitsEventV1 | LegacyEvent
"""Any event the runtime publishes: a v1 event or a legacy compact one."""

EVENT_TYPES: tuple[str, ...] = DIGITS_EVENT_V1_TYPES + LEGACY_EVENT_TYPES
REQUEST_TYPE = REQUEST_V1

_MAX_REASON = 300  # an error quotes the bad value; keep a hostile 1 MB string out of logs


class EventEncodeError(ValueError):
    """An event that cannot be written as JSON (a NaN or infinite float)."""


class EventDecodeError(ValueError):
    """A message that is not a valid event; the text says what is wrong and where."""


class RequestValidationError(ValueError):
    """A job request that breaks the digits.train.v1 schema; names the field and the rule."""


def encode_event(event: Event) -> str:
    """Compact JSON text of ``event``; ``EventEncodeError`` names a non-finite field."""
    try:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        where = next(
            (
                f"$.{key}"
                for key, value in event.items()
                if isinstance(value, float) and not math.isfinite(value)
            ),
            "$",
        )
        raise EventEncodeError(
            f"{event.get('type')}: {where} is {exc}; JSON has no NaN or Infinity, "
            "build events with the events.builders functions, which make floats finite"
        ) from exc


def _parse(text: str | bytes) -> dict[str, object]:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EventDecodeError(f"$: not UTF-8 text ({exc})") from exc
    try:
        value: object = json_numbers.loads(text)
    except (json_numbers.NonFiniteNumber, json_numbers.TooDeep) as exc:
        raise EventDecodeError(str(exc)) from exc
    except ValueError as exc:
        raise EventDecodeError(f"$: not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise EventDecodeError(f"$: expected a JSON object, got {_json_kind(value)}")
    return value


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a " + ("boolean" if isinstance(value, bool) else "number")


def explain(errors: Iterable[ValidationError]) -> str:
    """The most telling error, as ``$.path: message`` (plus how many more there are)."""
    found = list(errors)
    # A field that fails inside allOf also shows up as "unevaluated" at the top; the field's
    # own error says more, so that one wins when there is one.
    specific = [e for e in found if e.validator != "unevaluatedProperties"] or found
    error = max(specific, key=relevance)
    message = error.message
    if len(message) > _MAX_REASON:
        message = message[:_MAX_REASON] + "..."
    more = f" (and {len(specific) - 1} more)" if len(specific) > 1 else ""
    return f"{error.json_path}: {message}{more}"


@dataclass(frozen=True)
class _EventSchema:
    validator: Draft202012Validator


@dataclass(frozen=True)
class _RequestSchema:
    validator: Draft202012Validator


def _is_event(value: Mapping[str, object], schema: _EventSchema) -> TypeGuard[Event]:
    """True when ``value`` conforms to an event type's schema (so it is that TypedDict)."""
    return schema.validator.is_valid(value)


def _is_request(value: object, schema: _RequestSchema) -> TypeGuard[DigitsTrainV1]:
    """True when ``value`` conforms to the digits.train.v1 schema."""
    return schema.validator.is_valid(value)


def decode_event(text: str | bytes) -> Event:
    """Parses and validates one event; ``EventDecodeError`` says what is wrong and where."""
    obj = _parse(text)
    type_name = obj.get("type")
    if not isinstance(type_name, str) or type_name not in EVENT_TYPES:
        shown = "missing" if "type" not in obj else repr(type_name)[:_MAX_REASON]
        raise EventDecodeError(
            f"$.type: {shown} is not an event type; expected one of {', '.join(EVENT_TYPES)}"
        )
    schema = _EventSchema(validator_for(type_name))
    # 1.00000000000000001 is the double 1.0: an int where the schema says integer.
    obj = json_numbers.whole_floats_to_int(obj, integer_fields(type_name))
    if _is_event(obj, schema):
        return obj
    raise EventDecodeError(f"invalid {type_name}: {explain(schema.validator.iter_errors(obj))}")


def validate_request(obj: object) -> DigitsTrainV1:
    """``obj`` (parsed JSON) as a job request, or ``RequestValidationError`` naming the field.

    Example message: ``invalid digits.train.v1 request: $.epochs: 0 is less than the minimum
    of 1``. A NaN or infinite float is refused; a whole-number float in an integer field
    (``epochs: 2.0``) comes back as an ``int``.
    """
    try:
        json_numbers.check_finite(obj)  # NaN passes every bound check: refuse it first
    except json_numbers.NonFiniteNumber as exc:
        raise RequestValidationError(f"invalid {REQUEST_TYPE} request: {exc}") from exc
    schema = _RequestSchema(validator_for(REQUEST_TYPE))
    if isinstance(obj, Mapping):
        # epochs 2.0 is an integer to JSON Schema; the trainer needs the int 2.
        obj = json_numbers.whole_floats_to_int(obj, integer_fields(REQUEST_TYPE))
    if _is_request(obj, schema):
        return obj
    raise RequestValidationError(
        f"invalid {REQUEST_TYPE} request: {explain(schema.validator.iter_errors(obj))}"
    )


def request_field_problems(fields: Mapping[str, object]) -> list[str]:
    """What in ``fields`` (some of a request's fields) breaks the request schema, one line each.

    For code that holds request values without a whole request (``TrainConfig``), so that the
    bounds stay the schema's: ``["epochs: 0 is less than the minimum of 1"]``; empty when
    every field given is valid. Missing fields are not problems; unknown ones are.
    """
    try:
        json_numbers.check_finite(dict(fields))
    except json_numbers.NonFiniteNumber as exc:
        return [str(exc).removeprefix("$.")]
    validator = validator_for(REQUEST_TYPE)
    errors = validator.iter_errors({**fields, "type": REQUEST_TYPE})
    found = [e for e in errors if e.validator != "required"]
    return sorted(f"{e.json_path.removeprefix('$.')}: {e.message}" for e in found)


def decode_request(text: str) -> DigitsTrainV1:
    """The JSON text of a job request, read by the shared number rule, then validated."""
    try:
        obj = json_numbers.loads(text)
    except ValueError as exc:  # NonFiniteNumber names the field; JSONDecodeError the place
        raise RequestValidationError(f"invalid {REQUEST_TYPE} request: {exc}") from exc
    return validate_request(obj)
