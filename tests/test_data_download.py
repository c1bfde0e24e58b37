"""``--download`` against a local mirror: torchvision's real download, md5 check and unpacking.

The mirror serves MNIST-format files built from the offline digits, so no network is needed;
DIGITS__MNIST_MIRROR and DIGITS__MNIST_MD5S point torchvision at it.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from handwriting_ai.data.digits import MNIST_RAW, load_digits, load_offline
from handwriting_ai.data.idx import DataError, write_idx
from handwriting_ai.settings import DigitsSettings, EventsSettings, Settings, TrainSettings
from handwriting_worker.commands.cli import main
from handwriting_worker.commands.train_command import run_train
from tests.http_stub import QuietHandler, serve

DATA_ROOT = Path(__file__).resolve().parent.parent / "data" / "mnist"
TRAIN, TEST = 600, 300


class Mirror:
    """The four MNIST files (from the offline digits) and the requests they received."""

    def __init__(self, folder: Path) -> None:
        digits = load_offline(DATA_ROOT)
        arrays = {
            "train-images-idx3-ubyte.gz": digits.train_images[:TRAIN],
            "train-labels-idx1-ubyte.gz": digits.train_labels[:TRAIN].to(torch.uint8),
            "t10k-images-idx3-ubyte.gz": digits.val_images[:TEST],
            "t10k-labels-idx1-ubyte.gz": digits.val_labels[:TEST].to(torch.uint8),
        }
        self.arrays = arrays
        self.files: dict[str, bytes] = {}
        for name, array in arrays.items():
            write_idx(folder / name, array)
            self.files[name] = (folder / name).read_bytes()
        self.md5s = {name: hashlib.md5(body).hexdigest() for name, body in self.files.items()}
        self.requests: list[str] = []
        self.lock = threading.Lock()


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Mirror]]:
    files = Mirror(tmp_path / "served")

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            with files.lock:
                files.requests.append(self.path)
            body = files.files.get(self.path.removeprefix("/mnist/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serve(Handler) as url:
        yield f"{url}/mnist", files


def test_download_fetches_checks_and_parses(tmp_path: Path, mirror: tuple[str, Mirror]) -> None:
    url, files = mirror
    root = tmp_path / "data"
    data = load_digits(root, download=True, mirror=url, md5s=files.md5s)
    assert data.name == "mnist"
    assert torch.equal(data.train_images, files.arrays["train-images-idx3-ubyte.gz"])
    assert torch.equal(data.val_labels, files.arrays["t10k-labels-idx1-ubyte.gz"].long())
    assert (data.size, data.split_seed) == (TRAIN + TEST, None)
    assert set(files.requests) == {f"/mnist/{name}" for name in files.files}
    fetched = len(files.requests)
    # torchvision unpacked each file next to the download.
    assert (root / MNIST_RAW / "t10k-images-idx3-ubyte").exists()
    load_digits(root, download=True, mirror=url, md5s=files.md5s)
    assert len(files.requests) == fetched  # present: not fetched again


def test_a_wrong_checksum_is_a_clear_error(tmp_path: Path, mirror: tuple[str, Mirror]) -> None:
    url, files = mirror
    # torchvision's own md5s (the original MNIST files) do not match these files.
    with pytest.raises(DataError) as caught:
        load_digits(tmp_path, download=True, mirror=url)
    message = str(caught.value)
    assert message.startswith(f"downloading MNIST from {url}/ failed (")
    assert "set DIGITS__MNIST_MIRROR to a URL serving the four MNIST" in message
    assert "DIGITS__MNIST_MD5S" in message
    assert set(files.requests) == {"/mnist/train-images-idx3-ubyte.gz"}


def test_an_unreachable_mirror_is_a_clear_error(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    with pytest.raises(DataError, match=rf"from http://127.0.0.1:{port}/ failed \(.*refused"):
        load_digits(tmp_path, download=True, mirror=f"http://127.0.0.1:{port}/")


def test_train_download_then_evaluate(
    tmp_path: Path,
    mirror: tuple[str, Mirror],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, files = mirror
    root = tmp_path / "data"
    settings = Settings(
        digits=DigitsSettings(
            data_root=root,
            artifacts_root=tmp_path / "artifacts",
            mnist_mirror=url,
            mnist_md5s=files.md5s,
            activate="always",
        ),
        events=EventsSettings(batch_every=0),
        train=TrainSettings(threads=1, device="cpu"),
    )
    request: dict[str, object] = {
        "type": "digits.train.v1",
        "request_id": "download-1",
        "user_id": 1,
        "model_id": "full",
        "epochs": 1,
        "batch_size": 100,
        "lr": 0.01,
        "seed": 0,
        "augment": False,
        "notes": None,
    }
    stdout, stderr = io.StringIO(), io.StringIO()
    assert run_train(settings, request, stdout, stderr, download=True) == 0
    # Only events on stdout: torchvision's progress went to stderr.
    events = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert events[-1]["type"] == "digits.train.completed.v1"
    manifest = json.loads((tmp_path / "artifacts" / "full" / "manifest.json").read_text())
    assert manifest["dataset"]["name"] == "mnist"
    assert (manifest["dataset"]["train_size"], manifest["dataset"]["val_size"]) == (TRAIN, TEST)
    monkeypatch.setenv("DIGITS__DATA_ROOT", str(root))
    assert main(["evaluate", str(tmp_path / "artifacts" / "full"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["dataset"], result["total"]) == ("mnist", TEST)
    assert result["val_acc"] == manifest["val_acc"]


def test_mirror_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITS__MNIST_MIRROR", "http://127.0.0.1:9/mnist/")
    monkeypatch.setenv("DIGITS__MNIST_MD5S", '{"train-images-idx3-ubyte.gz": "0123"}')
    digits = Settings().digits
    assert digits.mnist_mirror == "http://127.0.0.1:9/mnist/"
    assert digits.mnist_md5s == {"train-images-idx3-ubyte.gz": "0123"}
