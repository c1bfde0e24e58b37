"""The prediction messages (``digits.predict.v1`` and ``digits.predict.result.v1``) to and
from JSON text, checked against their schemas as the bot checks them (``predict_decode.ts``).

A request comes from Redis, written by any bot (or anyone with write access to the queue), so
it is validated before a byte of its picture is read; a result is validated before it is sent,
so a worker bug shows up here, not as a refusal in the bot. Errors name the field (``$.x``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeGuard

from handwriting_ai.contracts import DigitsPredictResultV1, DigitsPredictV1
from handwriting_ai.contracts.names import PREDICT_RESULT_V1, PREDICT_V1
from handwriting_ai.events import json_numbers
from handwriting_ai.events.codec import explain
from handwriting_ai.events.schemas import integer_fields, validator_for


class PredictMessageError(ValueError):
    """A prediction message that breaks its schema; the text names the field and the rule."""


def _parse(text: str | bytes, type_name: str) -> dict[str, object]:
    try:
        value = json_numbers.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except ValueError as exc:  # bad UTF-8, bad JSON, NaN/Infinity (named)
        raise PredictMessageError(f"invalid {type_name}: {exc}") from exc
    if not isinstance(value, dict):
        raise PredictMessageError(f"invalid {type_name}: $: expected a JSON object")
    return json_numbers.whole_floats_to_int(value, integer_fields(type_name))


def _is_request(value: Mapping[str, object]) -> TypeGuard[DigitsPredictV1]:
    return validator_for(PREDICT_V1).is_valid(value)


def _is_result(value: Mapping[str, object]) -> TypeGuard[DigitsPredictResultV1]:
    return validator_for(PREDICT_RESULT_V1).is_valid(value)


def decode_predict_request(text: str | bytes) -> DigitsPredictV1:
    """The JSON text of a prediction request, validated; PredictMessageError otherwise."""
    value = _parse(text, PREDICT_V1)
    if _is_request(value):
        return value
    problems = explain(validator_for(PREDICT_V1).iter_errors(value))
    raise PredictMessageError(f"invalid {PREDICT_V1}: {problems}")


def decode_predict_result(text: str | bytes) -> DigitsPredictResultV1:
    """The JSON text of a prediction result, validated; PredictMessageError otherwise."""
    value = _parse(text, PREDICT_RESULT_V1)
    if _is_result(value):
        return value
    problems = explain(validator_for(PREDICT_RESULT_V1).iter_errors(value))
    raise PredictMessageError(f"invalid {PREDICT_RESULT_V1}: {problems}")


def encode_predict_result(result: DigitsPredictResultV1) -> str:
    """Compact JSON of ``result``, validated first (a worker bug is an error here)."""
    problems = list(validator_for(PREDICT_RESULT_V1).iter_errors(result))
    if problems:
        raise PredictMessageError(f"invalid {PREDICT_RESULT_V1}: {explain(problems)}")
    return json.dumps(result, separators=(",", ":"), allow_nan=False)
