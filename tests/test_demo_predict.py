"""The demo's prediction reads as the bot's /predict answer: refusals and failures say why."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from demo.predict import answer_text, predict_one
from handwriting_ai.contracts import DigitsPredictResultV1
from handwriting_ai.contracts.names import PREDICT_RESULT_V1


def _result(outcome: Literal["refused", "failed"], reason: str | None) -> DigitsPredictResultV1:
    return {
        "type": PREDICT_RESULT_V1,
        "request_id": "demo-predict",
        "user_id": 1,
        "model_id": "digits",
        "outcome": outcome,
        "reason": reason,
        "probabilities": None,
        "run_id": None,
        "val_acc": None,
        "input_png_base64": None,
        "ts": "2026-01-01T00:00:00Z",
    }


def test_a_refusal_and_a_failure_read_as_the_bot_words_them() -> None:
    refused = _result("refused", "the picture is blank")
    assert answer_text(refused) == "Could not read the picture: the picture is blank."
    assert answer_text(_result("failed", None)) == "No prediction: no reason given."


def test_a_model_never_trained_is_a_failure_saying_how_to_train_it(tmp_path: Path) -> None:
    label, text = predict_one(Path(__file__).parent.parent / "data" / "mnist", tmp_path, "digits")
    assert label == 6
    assert text.startswith("No prediction: no model 'digits' has been trained yet")
