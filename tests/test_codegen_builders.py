"""codegen/builders.py: each event's fields and builder, generated, and the rules they follow."""

from __future__ import annotations

import dataclasses

import pytest

from codegen.builders import (
    CONTEXT,
    BuilderError,
    annotation,
    function_name,
    python_builders,
    python_fields,
    sanitiser,
)
from codegen.json_types import JsonObject
from codegen.schema_index import Message
from handwriting_ai.events.context import JobContext

COMMON: JsonObject = {
    "$defs": {
        "Base": {"properties": {"request_id": {}, "run_id": {}, "ts": {}}},
        "Odd": {"properties": {"request_id": {}, "secret": {}}},
    }
}


def _message(
    props: JsonObject, type_const: str = "digits.train.demo.v2", base: str = "Base"
) -> Message:
    schema: JsonObject = {
        "title": "Demo",
        "description": 'Says """hi""" \\ there.',
        "allOf": [{"$ref": f"common.json#/$defs/{base}"}],
        "properties": {"type": {"const": type_const}, **props},
    }
    return Message("demo.json", "Demo", type_const, "v2", schema)


def test_the_context_fields_are_job_context_s() -> None:
    assert tuple(f.name for f in dataclasses.fields(JobContext)) == CONTEXT


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"$ref": "common.json#/$defs/Probability"}, "common.Probability"),
        ({"enum": ["a", "b"]}, "Literal['a', 'b']"),
        ({"type": "integer"}, "int"),
        ({"type": ["string", "null"]}, "str | None"),
        ({"type": "boolean"}, "bool"),
    ],
)
def test_annotations(schema: JsonObject, expected: str) -> None:
    assert annotation(schema, "w") == expected


@pytest.mark.parametrize(
    ("schema", "error"),
    [
        ({"$ref": "other.json#/x"}, "is not to common.json"),
        ({"type": "object"}, "has no Python type"),
        ({}, "has no Python type"),
    ],
)
def test_what_has_no_annotation_is_refused(schema: JsonObject, error: str) -> None:
    with pytest.raises(BuilderError, match=error):
        annotation(schema, "w")


@pytest.mark.parametrize(
    ("name", "schema", "expected"),
    [
        ("val_acc", {"$ref": "common.json#/$defs/Probability"}, "probability"),
        ("ratio", {"type": "number", "minimum": 0, "maximum": 1}, "probability"),
        ("train_loss", {"type": "number", "minimum": 0}, "loss"),
        ("time_s", {"type": "number", "minimum": 0}, "non_negative"),
        ("message", {"type": "string"}, "one_line"),
        ("path", {"type": "string"}, None),
        ("epoch", {"type": "integer"}, None),
    ],
)
def test_each_field_gets_the_first_rule_that_fits(
    name: str, schema: JsonObject, expected: str | None
) -> None:
    assert sanitiser(name, schema, "w") == expected


def test_a_number_no_rule_keeps_finite_stops_codegen() -> None:
    with pytest.raises(BuilderError, match=r"w: no rule in codegen/builders\.py"):
        sanitiser("delta", {"type": "number"}, "w")


def test_generated_fields_and_builder_of_a_v2_event() -> None:
    message = _message(
        {
            "all_loss": {"type": "number", "minimum": 0, "description": "L."},
            "n": {"type": "integer"},
        }
    )
    assert function_name(message) == "demo_v2"
    fields = python_fields([message])
    assert 'class DemoFields(TypedDict):\n    """Says \\"\\"\\"hi\\"\\"\\" \\\\ there."""' in fields
    assert '    all_loss: float\n    """L."""' in fields
    code = python_builders([message], COMMON)
    assert "def demo_v2(ctx: JobContext, **fields: Unpack[DemoFields]) -> Demo:" in code
    assert '"type": names.DEMO_V2,\n        "request_id": ctx.request_id,' in code
    assert '"ts": utc_timestamp(),\n        "all_loss": loss(fields["all_loss"]),' in code
    assert "import JobContext, loss, utc_timestamp\n" in code


def test_a_base_field_neither_context_nor_time_is_refused() -> None:
    with pytest.raises(BuilderError, match="base field secret is neither context nor ts"):
        python_builders([_message({}, base="Odd")], COMMON)
