"""The shared test vectors (tests/vectors/) get the verdict they carry in Python.

The TypeScript suite (typescript/test/events/vectors.test.ts) checks the same files with the
generated zod schemas; both must agree on every vector.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from handwriting_ai.contracts import SCHEMA_FILES
from handwriting_ai.contracts.names import MANIFEST_V1, PREDICT_RESULT_V1, PREDICT_V1, REQUEST_V1
from handwriting_ai.events.codec import (
    EventDecodeError,
    RequestValidationError,
    decode_event,
    decode_request,
)
from handwriting_ai.predict_messages import (
    PredictMessageError,
    decode_predict_request,
    decode_predict_result,
)

VECTORS = Path(__file__).parent / "vectors"
REQUEST_FILE = SCHEMA_FILES[REQUEST_V1]
# The prediction messages: not events, each decoded by its own function.
PREDICT_DECODERS: dict[str, Callable[[str], Mapping[str, object]]] = {
    SCHEMA_FILES[PREDICT_V1]: decode_predict_request,
    SCHEMA_FILES[PREDICT_RESULT_V1]: decode_predict_result,
}
# What goes over Redis: events and requests (the manifest is checked in test_manifest.py).
WIRE_FILES = [file for type_name, file in SCHEMA_FILES.items() if type_name != MANIFEST_V1]


def _load() -> list[tuple[str, str, bool, str]]:
    out: list[tuple[str, str, bool, str]] = []
    for path in sorted(VECTORS.glob("*.json")):
        data = json.loads(path.read_text())
        for vector in data["vectors"]:
            out.append((data["schema"], vector["name"], vector["valid"], vector["text"]))
    return out


def _expected() -> list[tuple[str, str, str, dict[str, str]]]:
    """Valid vectors that say what some fields decode to, as JSON text (``"epochs": "2"``)."""
    out: list[tuple[str, str, str, dict[str, str]]] = []
    for path in sorted(VECTORS.glob("*.json")):
        data = json.loads(path.read_text())
        for vector in data["vectors"]:
            if "expect" in vector:
                out.append((data["schema"], vector["name"], vector["text"], vector["expect"]))
    return out


ALL = _load()
EXPECTED = _expected()


def test_every_message_type_has_vectors_of_both_verdicts() -> None:
    for file in WIRE_FILES:
        verdicts = {valid for schema, _, valid, _ in ALL if schema == file}
        assert verdicts == {True, False}, file
    big = [text for _, name, valid, text in ALL if valid and "above 2^53" in name]
    assert len(big) == len(WIRE_FILES)


def _decode(schema: str, text: str) -> Mapping[str, object]:
    if schema == REQUEST_FILE:
        return decode_request(text)
    if schema in PREDICT_DECODERS:
        return PREDICT_DECODERS[schema](text)
    return decode_event(text)


def _verdict(schema: str, text: str) -> bool:
    if schema in PREDICT_DECODERS:
        try:
            PREDICT_DECODERS[schema](text)
        except PredictMessageError:
            return False
        return True
    if schema == REQUEST_FILE:
        try:
            decode_request(text)
        except RequestValidationError:
            return False
        return True
    try:
        event = decode_event(text)
    except EventDecodeError:
        return False
    assert SCHEMA_FILES[event["type"]] == schema  # a valid vector is of its own file's type
    return True


@pytest.mark.parametrize(
    ("schema", "name", "valid", "text"), ALL, ids=[f"{s}: {n}" for s, n, _, _ in ALL]
)
def test_vector_verdict(schema: str, name: str, valid: bool, text: str) -> None:
    assert _verdict(schema, text) is valid


def test_user_id_above_2_53_survives_exactly() -> None:
    for schema, name, _, text in ALL:
        if "above 2^53" in name and schema != REQUEST_FILE:
            event = _decode(schema, text)
            digits = text.split('"user_id":', 1)[1].split(",", 1)[0]
            assert event["user_id"] == int(digits) > 2**53


def test_numbers_rule_has_vectors() -> None:
    assert len(EXPECTED) >= 5


@pytest.mark.parametrize(
    ("schema", "name", "text", "expect"), EXPECTED, ids=[f"{s}: {n}" for s, n, _, _ in EXPECTED]
)
def test_vector_decodes_to_the_values_it_expects(
    schema: str, name: str, text: str, expect: dict[str, str]
) -> None:
    # Whole numbers are ints (2.0 -> 2, exactly, any size); others the nearest double.
    decoded = _decode(schema, text)
    assert {key: json.dumps(decoded[key]) for key in expect} == expect
