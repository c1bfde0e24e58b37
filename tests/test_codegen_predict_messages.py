"""Codegen for the prediction messages: their file names, constants and array fields."""

from __future__ import annotations

import pytest

from codegen.json_types import JsonObject
from codegen.names import constant_name
from codegen.schema_index import SCHEMAS_DIR, Message, group_of, is_event, load_schema
from codegen.zod_emitter import UnsupportedSchemaError, emit_typescript

COMMON = load_schema(SCHEMAS_DIR / "common.json")


def _message(**props: JsonObject) -> Message:
    properties: JsonObject = {"type": {"const": "digits.predict.v9"}}
    properties.update(props)
    schema: JsonObject = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return Message(
        file="digits.predict.v9.json",
        title="Demo",
        type_const="digits.predict.v9",
        group="predict",
        schema=schema,
    )


def test_prediction_files_are_their_own_kinds_not_events() -> None:
    assert group_of("digits.predict.v1.json") == "predict"
    assert group_of("digits.predict.result.v1.json") == "predict_result"
    assert not is_event("predict") and not is_event("predict_result")


def test_prediction_constants() -> None:
    request = _message()
    result = Message("f.json", "T", "digits.predict.result.v1", "predict_result", {})
    assert constant_name(request) == "PREDICT_V9"
    assert constant_name(result) == "PREDICT_RESULT_V1"


def test_an_array_of_a_shared_definition_with_its_length_bounds() -> None:
    probabilities: JsonObject = {
        "type": ["array", "null"],
        "items": {"$ref": "common.json#/$defs/Probability"},
        "minItems": 10,
        "maxItems": 10,
    }
    ts = emit_typescript(COMMON, [_message(probabilities=probabilities)])
    assert "probabilities: z.array(Probability).min(10).max(10).nullable()," in ts
    plain = emit_typescript(COMMON, [_message(tags={"type": "array", "items": {"type": "string"}})])
    assert "tags: z.array(z.string())," in plain


@pytest.mark.parametrize(
    ("array", "message"),
    [
        ({"type": "array"}, r"tags: an array needs items"),
        (
            {"type": "array", "items": {"$ref": "common.json#/$defs/UserId"}},
            r"tags.items: 64-bit integers in an array are not supported",
        ),
        (
            {"type": "array", "items": {"type": "integer", "maximum": 2**62}},
            r"tags.items: 64-bit integers in an array are not supported",
        ),
        (
            {"type": "array", "items": {"type": "object"}},
            r"unsupported type 'object'",
        ),
    ],
)
def test_arrays_zod_cannot_check_exactly_are_refused(array: JsonObject, message: str) -> None:
    with pytest.raises(UnsupportedSchemaError, match=message):
        emit_typescript(COMMON, [_message(tags=array)])
