"""The demo's last step: one held-out digit read by the model the job just made, as ``/predict``
answers it.

The dry-run bot serves no interactions (it must never take a real user's request), so the demo
asks the prediction worker's own service (``PredictService``: the request checked against
``digits.predict.v1``, the picture read and centred, the active model of the model_id loaded)
and draws its ``digits.predict.result.v1`` as the bot's answer reads: the digit and its
probability, the top three, the model, and the 28x28 input the model saw, in characters.
torch is imported here, after the job, so the demo's start stays light.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from PIL import Image

from handwriting_ai.contracts import DigitsPredictResultV1
from handwriting_ai.contracts.names import PREDICT_V1
from handwriting_ai.predict_messages import decode_predict_request

SHADES = " .:-=+*#%@"
"""Ink from none to full, one character per pair of rows of the 28x28 input."""


def _png(pixels: list[int]) -> bytes:
    out = io.BytesIO()
    Image.frombytes("L", (28, 28), bytes(pixels)).save(out, format="PNG")
    return out.getvalue()


def _percent(probability: float) -> str:
    return f"{probability * 100:.1f}%"


def drawn(input_png_base64: str) -> list[str]:
    """The model's input (the result's preview, scaled back to 28x28) as 14 lines of text in a
    frame."""
    image = Image.open(io.BytesIO(base64.b64decode(input_png_base64))).convert("L")
    small = image.resize((28, 28), Image.Resampling.NEAREST).tobytes()
    lines = []
    for row in range(0, 28, 2):
        top, bottom = small[row * 28 : row * 28 + 28], small[row * 28 + 28 : row * 28 + 56]
        pairs = zip(top, bottom, strict=True)
        lines.append("|" + "".join(SHADES[(a + b) * len(SHADES) // 512] for a, b in pairs) + "|")
    edge = "+" + "-" * 28 + "+"
    return [edge, *lines, edge]


def answer_text(result: DigitsPredictResultV1) -> str:
    """What the bot's answer says (predict_render.ts), as plain text."""
    reason = result["reason"] or "no reason given"
    if result["outcome"] == "refused":
        return f"Could not read the picture: {reason}."
    probabilities = result["probabilities"]
    if result["outcome"] == "failed" or probabilities is None:
        return f"No prediction: {reason}."
    ranked = sorted(enumerate(probabilities), key=lambda entry: -entry[1])
    digit, probability = ranked[0]
    top = " · ".join(f"{d} {_percent(p)}" for d, p in ranked[:3])
    model = result["model_id"]
    if result["run_id"] is not None:
        model += f" · run {result['run_id']}"
    if result["val_acc"] is not None:
        model += f" · val_acc {_percent(result['val_acc'])}"
    lines = [f"Reads {digit} ({_percent(probability)})", f"Top three: {top}", f"Model: {model}"]
    if result["input_png_base64"] is not None:
        lines.append("The 28x28 input the model saw, after centring:")
        lines += drawn(result["input_png_base64"])
    return "\n".join(lines)


def predict_one(data_root: Path, artifacts_root: Path, model_id: str) -> tuple[int, str]:
    """The first held-out digit (validation split: never trained on) read by ``model_id``'s
    active model; its label and the answer's text."""
    from handwriting_ai.data.digits import load_offline  # noqa: PLC0415 (torch: see the doc)
    from handwriting_worker.predicting.predict_service import PredictService  # noqa: PLC0415

    data = load_offline(data_root)
    picture = _png(data.val_images[0].flatten().tolist())
    text = json.dumps(
        {
            "type": PREDICT_V1,
            "request_id": "demo-predict",
            "user_id": 1,
            "model_id": model_id,
            "image_base64": base64.b64encode(picture).decode(),
        }
    )
    result = PredictService(artifacts_root).answer(decode_predict_request(text))
    return int(data.val_labels[0]), answer_text(result)
