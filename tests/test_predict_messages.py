"""Prediction messages to and from JSON; each refusal names the field (more in the vectors)."""

from __future__ import annotations

import json

import pytest

from handwriting_ai.contracts import DigitsPredictResultV1
from handwriting_ai.predict_messages import (
    PredictMessageError,
    decode_predict_request,
    decode_predict_result,
    encode_predict_result,
)


def _result() -> DigitsPredictResultV1:
    return {
        "type": "digits.predict.result.v1",
        "request_id": "p-1",
        "user_id": 2**60,
        "model_id": "digits",
        "outcome": "predicted",
        "reason": None,
        "probabilities": [0.1] * 10,
        "run_id": "run-1",
        "val_acc": 0.98,
        "input_png_base64": "iVBORw0KGgo=",
        "ts": "2026-12-06T02:00:00Z",
    }


def test_a_result_round_trips_with_its_user_id_exact() -> None:
    text = encode_predict_result(_result())
    assert decode_predict_result(text.encode()) == _result()


def test_a_valid_request_decodes() -> None:
    text = json.dumps(
        {"type": "digits.predict.v1", "request_id": "p", "user_id": 1, "model_id": "m"}
        | {"image_base64": "AAAA"}
    )
    assert decode_predict_request(text)["image_base64"] == "AAAA"


def test_an_invalid_result_is_not_sent() -> None:
    bad = _result()
    bad["probabilities"] = [0.5] * 9
    with pytest.raises(PredictMessageError, match=r"\$.probabilities: .* is too short"):
        encode_predict_result(bad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"\xff", r"invalid digits.predict.v1: 'utf-8' codec can't decode"),
        ("[1]", r"invalid digits.predict.v1: \$: expected a JSON object"),
        ('{"type":"digits.predict.v1","lr":NaN}', r"invalid digits.predict.v1: .*NaN"),
        ("{}", r"invalid digits.predict.v1: \$: 'type' is a required property"),
    ],
)
def test_a_bad_request_is_refused_naming_what(text: str | bytes, message: str) -> None:
    with pytest.raises(PredictMessageError, match=message):
        decode_predict_request(text)


def test_a_bad_result_is_refused_naming_the_field() -> None:
    with pytest.raises(PredictMessageError, match=r"\$.outcome: 'maybe' is not one of"):
        decode_predict_result(json.dumps({**_result(), "outcome": "maybe"}))
