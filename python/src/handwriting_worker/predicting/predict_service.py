"""One ``digits.predict.v1`` -> its ``digits.predict.result.v1``, with the active model of each
model_id kept loaded.

The active model of a model_id is the one ``DIGITS__ARTIFACTS_ROOT/<model_id>/manifest.json``
names (a finished training run rewrites the manifest). Loading it (sha256 check and
unpickling) costs far more than a prediction, so each is loaded once and kept; the manifest's
file identity (inode, size, mtime) is checked on every request, and a changed manifest loads
the new run's model. A missing model is a ``failed`` result saying how to get one; a picture
that is not one digit a ``refused`` result saying why (``predict_picture``).
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from handwriting_ai.contracts import DigitsPredictResultV1, DigitsPredictV1
from handwriting_ai.contracts.names import PREDICT_RESULT_V1
from handwriting_ai.training.artifacts import MANIFEST_FILE, utc_now_iso
from handwriting_ai.training.loop import normalize
from handwriting_ai.training.saved import ArtifactError, SavedModel, load_saved
from handwriting_worker.predicting.predict_picture import PictureRefused, preview_png, read_picture

log = logging.getLogger(__name__)

Identity = tuple[int, int, int]


@dataclass(frozen=True)
class _Loaded:
    identity: Identity
    saved: SavedModel


class PredictService:
    """Answers prediction requests from the models under ``artifacts_root``."""

    def __init__(self, artifacts_root: Path) -> None:
        self.artifacts_root = artifacts_root
        self._models: dict[str, _Loaded] = {}

    def model(self, model_id: str) -> SavedModel:
        """The active model of ``model_id``, loaded again when its manifest changed."""
        folder = self.artifacts_root / model_id
        try:
            stat = (folder / MANIFEST_FILE).stat()
        except OSError:
            self._models.pop(model_id, None)
            raise ArtifactError(
                f"no model {model_id!r} has been trained yet; train one with /train "
                f"model_id:{model_id}, or pick a trained model_id"
            ) from None
        identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        loaded = self._models.get(model_id)
        if loaded is None or loaded.identity != identity:
            saved = load_saved(folder)
            self._models[model_id] = _Loaded(identity, saved)
            log.info("predict: loaded %s run %s", model_id, saved.manifest["run_id"])
            return saved
        return loaded.saved

    def answer(self, request: DigitsPredictV1) -> DigitsPredictResultV1:
        """The result for ``request``: predicted, refused (the picture) or failed (the model)."""
        model_id = request["model_id"]
        try:
            data = base64.b64decode(request["image_base64"], validate=True)
            digit = read_picture(data)
        except (PictureRefused, binascii.Error) as exc:
            return self._not_predicted(request, "refused", str(exc))
        try:
            saved = self.model(model_id)
        except ArtifactError as exc:
            # The text names the server's folders: logged, not sent to the user.
            log.warning("predict: model %s unusable: %s", model_id, exc)
            return self._not_predicted(request, "failed", _public(exc, model_id))
        with torch.inference_mode():
            logits = saved.model(normalize(digit.unsqueeze(0)))
        probabilities = torch.softmax(logits[0].double(), dim=0).clamp(0, 1).tolist()
        manifest = saved.manifest
        return {
            "type": PREDICT_RESULT_V1,
            "request_id": request["request_id"],
            "user_id": request["user_id"],
            "model_id": model_id,
            "outcome": "predicted",
            "reason": None,
            "probabilities": probabilities,
            "run_id": manifest["run_id"],
            "val_acc": manifest["val_acc"],
            "input_png_base64": preview_png(digit),
            "ts": utc_now_iso(),
        }

    @staticmethod
    def _not_predicted(
        request: DigitsPredictV1, outcome: Literal["refused", "failed"], reason: str
    ) -> DigitsPredictResultV1:
        return {
            "type": PREDICT_RESULT_V1,
            "request_id": request["request_id"],
            "user_id": request["user_id"],
            "model_id": request["model_id"],
            "outcome": outcome,
            "reason": reason[:300],
            "probabilities": None,
            "run_id": None,
            "val_acc": None,
            "input_png_base64": None,
            "ts": utc_now_iso(),
        }


def _public(exc: ArtifactError, model_id: str) -> str:
    """What the user may read of a model error: no server paths."""
    text = str(exc)
    if text.startswith("no model"):
        return text
    return f"the model {model_id!r} cannot be loaded (see the worker's log); train it again"
