"""The prediction worker: pictures refused with a reason, the active model kept loaded and
reloaded when its manifest changes, results pushed where the bot waits (real redis-server,
the real ``predict-worker`` command)."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image
from redis import Redis

from handwriting_ai.contracts import DigitsPredictV1
from handwriting_ai.contracts.names import PREDICT_QUEUE
from handwriting_ai.data.digits import load_offline
from handwriting_ai.predict_messages import decode_predict_request, decode_predict_result
from handwriting_worker.predicting.predict_picture import PictureRefused, read_picture
from handwriting_worker.predicting.predict_service import PredictService
from handwriting_worker.predicting.predict_worker import PredictWorker, result_key
from tests.conftest import RedisServer, free_port
from tests.e2e_support import REPO, wait_until
from tests.predict_support import digit_png, install_model, png, request_text

pytestmark = pytest.mark.timeout(120)

DIGITS = load_offline(REPO / "data" / "mnist").val_images[:4]


def _request(data: bytes, model_id: str = "digits") -> DigitsPredictV1:
    return decode_predict_request(request_text(data, model_id))


def _side_by_side(left: torch.Tensor, right: torch.Tensor) -> bytes:
    return png(
        Image.frombytes("L", (56, 28), bytes(torch.cat([left, right], 1).flatten().tolist()))
    )


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("L", (40, 40)).save(out, format="GIF")
    return out.getvalue()


def _specks() -> bytes:
    image = Image.new("L", (100, 100))
    for row in range(4):
        for col in range(4):
            image.paste(255, (10 + 25 * col, 10 + 25 * row, 13 + 25 * col, 13 + 25 * row))
    return png(image)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"hello, not a picture", "not a PNG or JPEG picture we can read"),
        (png(Image.new("L", (40, 40))).replace(b"IHDR", b"IHDX"), "not a PNG or JPEG"),
        (_gif(), "not a PNG or JPEG"),
        (png(Image.new("L", (20, 40), 255)), "20x40 pixels, too small; send one at least 28x28"),
        (png(Image.new("L", (4097, 4097))), "4097x4097 pixels, more than we read"),
        (png(Image.new("L", (100, 100), 255)), "the picture is blank"),
        (png(Image.effect_noise((100, 100), 4)), "the picture is blank"),
        (_side_by_side(DIGITS[0], DIGITS[1]), "several digits side by side"),
        (_specks(), "no clear digit in the picture"),
    ],
    ids=[
        "text",
        "broken png",
        "gif",
        "too small",
        "too large",
        "white",
        "faint noise",
        "two",
        "specks",
    ],
)
def test_an_unusable_picture_is_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(PictureRefused, match=reason):
        read_picture(data)


def test_a_digit_dark_on_light_and_large_is_read_as_one() -> None:
    light = png(Image.frombytes("L", (28, 28), bytes((255 - DIGITS[2]).flatten().tolist())))
    assert read_picture(light).shape == (28, 28)
    assert read_picture(digit_png(DIGITS[3], scale=8)).shape == (28, 28)


def test_a_prediction_carries_the_model_its_probabilities_and_the_input(tmp_path: Path) -> None:
    install_model(tmp_path, "digits", "run-a")
    result = PredictService(tmp_path).answer(_request(digit_png(DIGITS[0])))
    assert (result["outcome"], result["reason"]) == ("predicted", None)
    assert (result["run_id"], result["val_acc"], result["model_id"]) == ("run-a", 0.98, "digits")
    probabilities = result["probabilities"]
    assert probabilities is not None and len(probabilities) == 10
    assert abs(sum(probabilities) - 1) < 1e-6
    preview = Image.open(io.BytesIO(base64.b64decode(result["input_png_base64"] or "")))
    assert (preview.format, preview.size, preview.mode) == ("PNG", (112, 112), "L")


def test_the_model_is_kept_loaded_and_reloaded_when_its_manifest_changes(tmp_path: Path) -> None:
    service = PredictService(tmp_path)
    install_model(tmp_path, "digits", "run-a")
    first = service.model("digits")
    assert service.model("digits") is first  # loaded once
    install_model(tmp_path, "digits", "run-b", seed=1)
    assert service.model("digits").manifest["run_id"] == "run-b"
    result = service.answer(_request(digit_png(DIGITS[0])))
    assert result["run_id"] == "run-b"


def test_a_model_never_trained_fails_saying_how_to_train_it(tmp_path: Path) -> None:
    service = PredictService(tmp_path)
    install_model(tmp_path, "digits", "run-a")
    service.model("digits")
    (tmp_path / "digits" / "manifest.json").unlink()  # gone after it was loaded: forgotten
    for model_id in ("digits", "other"):
        result = service.answer(_request(digit_png(DIGITS[0]), model_id))
        assert result["outcome"] == "failed"
        assert result["reason"] == (
            f"no model {model_id!r} has been trained yet; train one with /train "
            f"model_id:{model_id}, or pick a trained model_id"
        )


def test_a_damaged_model_fails_without_naming_server_paths(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = install_model(tmp_path, "digits", "run-a")
    (folder / "model-run-a.pt").write_bytes(b"changed")
    with caplog.at_level(logging.WARNING):
        result = PredictService(tmp_path).answer(_request(digit_png(DIGITS[0])))
    assert result["outcome"] == "failed"
    assert result["reason"] == (
        "the model 'digits' cannot be loaded (see the worker's log); train it again"
    )
    assert str(tmp_path) not in json.dumps(result)
    assert "differs from the manifest's" in caplog.text


def test_bad_base64_is_refused(tmp_path: Path) -> None:
    request = _request(b"x")
    request["image_base64"] = "AAAAA"  # matches the schema's alphabet, not base64
    result = PredictService(tmp_path).answer(request)
    assert result["outcome"] == "refused"
    assert result["reason"] is not None and "not a PNG or JPEG" not in result["reason"]


def test_the_worker_answers_from_its_queue_and_drops_what_names_no_one(
    tmp_path: Path, client: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    install_model(tmp_path, "digits", "run-a")
    worker = PredictWorker(PredictService(tmp_path), client, "q")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    with caplog.at_level(logging.INFO):
        thread.start()
        try:
            client.lpush("q", b'{"type":"digits.predict.v1"}')
            client.lpush("q", request_text(digit_png(DIGITS[0])))
            key = result_key(2**62 + 7, "p-1")
            popped = client.blpop([key], timeout=30)
        finally:
            stop.set()
            thread.join(10)
    assert popped is not None
    result = decode_predict_result(popped[1])
    assert (result["outcome"], result["user_id"]) == ("predicted", 2**62 + 7)
    assert worker.handle(request_text(digit_png(DIGITS[1]))) == "p-1: predicted"
    assert 0 < client.ttl(key) <= 60  # a result nobody takes goes away
    assert "dropped: invalid digits.predict.v1" in caplog.text
    assert "predict p-1: predicted" in caplog.text


def test_redis_failing_is_retried_with_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = Redis(port=free_port(), socket_connect_timeout=0.2)
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    with caplog.at_level(logging.WARNING):
        PredictWorker(PredictService(tmp_path), dead).run(stop)
    timer.join()
    assert "predict worker: Redis failed" in caplog.text
    assert "again in 0.5 s" in caplog.text


def _command(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "handwriting_worker", "predict-worker"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_command_answers_and_stops_on_sigterm(
    tmp_path: Path, redis_server: RedisServer, client: Redis
) -> None:
    install_model(tmp_path, "digits", "run-a")
    env = os.environ | dict(REDIS_URL=redis_server.url, DIGITS__ARTIFACTS_ROOT=str(tmp_path))
    process = _command(env)
    try:
        client.lpush(PREDICT_QUEUE, request_text(digit_png(DIGITS[0])))

        def take() -> bytes | None:
            value = client.lpop(result_key(2**62 + 7, "p-1"))
            return value if isinstance(value, bytes) else None

        popped = wait_until("the result", take, timeout_s=60)
        assert decode_predict_result(popped)["outcome"] == "predicted"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "predict worker stopped" in output


def test_the_command_exits_1_when_redis_is_unreachable() -> None:
    env = os.environ | dict(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    process = _command(env)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert output.startswith("predict-worker: cannot reach Redis at redis://127.0.0.1:")
