"""One job end to end in this process: real training on the offline digits, real files,
a real HTTP model API; the events are collected by a publisher that keeps them in order."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest

import handwriting_ai.training as training_module
from handwriting_ai.events.codec import Event, decode_event
from handwriting_ai.settings import (
    DigitsSettings,
    EventsSettings,
    RqSettings,
    Settings,
    TrainSettings,
    UploadSettings,
)
from handwriting_ai.training import TrainingError
from handwriting_worker.rq.rq_job import train_job
from handwriting_worker.training.job import JobTimedOut, _digits, context_of, run_job
from tests.model_api import ModelApi, serve_model_api

DATA_ROOT = Path(__file__).resolve().parent.parent / "data" / "mnist"


class Collect:
    """A Publisher keeping what it is given (the job code's only view of publishing)."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []

    def publish(self, event: Event) -> None:
        self.events.append(dict(event))

    def close(self, timeout: float = 2.0) -> None:
        pass

    def types(self) -> list[str]:
        return [str(e["type"]) for e in self.events]


def _request(**change: object) -> dict[str, object]:
    request: dict[str, object] = {
        "type": "digits.train.v1",
        "request_id": "req-7",
        "user_id": 2**60 + 5,
        "model_id": "digits",
        "epochs": 2,
        "batch_size": 64,
        "lr": 0.01,
        "seed": 1,
        "augment": False,
        "notes": None,
    }
    request.update(change)
    return request


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(
        events=EventsSettings(batch_every=3, legacy=bool(kw.get("legacy", False))),
        digits=DigitsSettings(
            data_root=Path(str(kw.get("data_root", DATA_ROOT))),
            artifacts_root=tmp_path / "artifacts",
            retention_keep_runs=int(str(kw.get("keep", 3))),
            activate="always",  # these small runs stay under the default floor
        ),
        train=TrainSettings(threads=1, max_train_samples=int(str(kw.get("samples", 256)))),
        upload=UploadSettings(timeout_s=5, attempts=2, backoff_s=0),
        rq=RqSettings(job_timeout_s=60),
        handwriting_api_url=kw.get("api_url"),
        handwriting_api_key=kw.get("api_key"),
    )


def _check_all_valid(events: list[dict[str, object]]) -> None:
    for event in events:
        assert decode_event(json.dumps(event)) == event


def test_a_job_reports_every_step_with_one_identity(tmp_path: Path) -> None:
    sink = Collect()
    seen_run_ids: list[str] = []
    outcome = run_job(_request(), _settings(tmp_path), sink, on_run_id=seen_run_ids.append)

    assert outcome.status == "completed"
    types = sink.types()
    assert types[0] == "digits.train.started.v1"
    assert types[-3:] == [
        "digits.train.artifact.v1",
        "digits.train.prune.v1",
        "digits.train.completed.v1",
    ]
    assert types.count("digits.train.epoch.v1") == 2
    assert "digits.train.best.v1" in types
    # 256 samples / 64 = 4 batches: the first, the 3rd and the last of each epoch.
    batches = [
        (e["epoch"], e["batch"]) for e in sink.events if e["type"] == "digits.train.batch.v1"
    ]
    assert batches == [(1, 1), (1, 3), (1, 4), (2, 1), (2, 3), (2, 4)]
    _check_all_valid(sink.events)
    assert {(e["request_id"], e["user_id"], e["model_id"]) for e in sink.events} == {
        ("req-7", 2**60 + 5, "digits")
    }
    run_ids = {e.get("run_id") for e in sink.events}
    assert run_ids == {outcome.run_id} == set(seen_run_ids)
    model_dir = tmp_path / "artifacts" / "digits"
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["run_id"] == outcome.run_id
    assert sink.events[-1]["val_acc"] == outcome.val_acc == manifest["val_acc"]
    artifact = sink.events[-3]
    # The folder relative to the artifacts root: no server path reaches Discord.
    assert artifact["type"] == "digits.train.artifact.v1" and artifact["path"] == "digits"


def test_an_invalid_request_fails_once_naming_the_field_and_trains_nothing(tmp_path: Path) -> None:
    sink = Collect()
    outcome = run_job(_request(epochs=0), _settings(tmp_path), sink)
    assert outcome.status == "failed"
    [event] = sink.events
    assert event["type"] == "digits.train.failed.v1"
    assert event["error_kind"] == "user"
    assert "$.epochs: 0 is less than the minimum of 1" in str(event["message"])
    assert (event["request_id"], event["user_id"], event["run_id"]) == ("req-7", 2**60 + 5, None)
    assert not (tmp_path / "artifacts").exists()
    _check_all_valid(sink.events)


@pytest.mark.parametrize(
    ("payload", "identity"),
    [
        ("not an object", ("unknown", 0, "unknown")),
        ({"request_id": "", "user_id": True, "model_id": "m" * 500}, ("unknown", 0, "unknown")),
        ({"request_id": "r", "user_id": -3, "model_id": "m"}, ("r", 0, "m")),
        ({"request_id": "r", "user_id": "123", "model_id": "m"}, ("r", 123, "m")),
        ({"request_id": "r", "user_id": "0123", "model_id": "m"}, ("r", 0, "m")),
        ({"request_id": "r", "user_id": "1e3", "model_id": "m"}, ("r", 0, "m")),
        ({"request_id": "r", "user_id": str(2**63), "model_id": "m"}, ("r", 0, "m")),
    ],
)
def test_an_unusable_payload_still_gets_a_valid_failed_event(
    tmp_path: Path, payload: object, identity: tuple[str, int, str]
) -> None:
    sink = Collect()
    run_job(payload, _settings(tmp_path), sink)
    [event] = sink.events
    assert (event["request_id"], event["user_id"], event["model_id"]) == identity
    assert context_of(payload).request_id == identity[0]
    _check_all_valid(sink.events)


def test_a_missing_request_id_falls_back_to_the_one_the_worker_names() -> None:
    assert context_of({"user_id": 5}, "rq-job-abc").request_id == "rq-job-abc"
    assert context_of({"request_id": "mine"}, "rq-job-abc").request_id == "mine"
    assert context_of(None).request_id == "unknown"


def test_divergence_is_the_user_s_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def diverge(*args: object, **kwargs: object) -> None:
        raise TrainingError("loss became nan (diverged); lower lr (now 1.0) and train again")

    monkeypatch.setattr(training_module, "train_model", diverge)  # run_job imports it late
    sink = Collect()
    outcome = run_job(_request(lr=1.0), _settings(tmp_path), sink)
    assert (outcome.error_kind, sink.events[-1]["error_kind"]) == ("user", "user")
    assert "lower lr (now 1.0)" in str(outcome.message)


def test_legacy_events_come_beside_the_v1_ones(tmp_path: Path) -> None:
    sink = Collect()
    run_job(_request(epochs=1), _settings(tmp_path, legacy=True), sink)
    legacy = [t for t in sink.types() if "." not in t]
    assert legacy == ["started", "progress", "completed"]
    _check_all_valid(sink.events)
    sink = Collect()
    run_job(_request(lr=5), _settings(tmp_path, legacy=True), sink)
    assert sink.types() == ["digits.train.failed.v1", "failed"]


def test_upload_reports_status_and_sizes(tmp_path: Path) -> None:
    sink = Collect()
    with serve_model_api(ModelApi(key="k", statuses=[500])) as api:
        settings = _settings(tmp_path, api_url=api.url, api_key="k")
        outcome = run_job(_request(epochs=1), settings, sink)
    assert outcome.status == "completed"
    upload = next(e for e in sink.events if e["type"] == "digits.train.upload.v1")
    model_dir = tmp_path / "artifacts" / "digits"
    assert upload["status"] == 200
    assert upload["model_bytes"] == (model_dir / f"model-{outcome.run_id}.pt").stat().st_size
    assert upload["manifest_bytes"] == (model_dir / "manifest.json").stat().st_size
    assert len(api.received) == 2  # the 500 was retried
    assert api.received[-1].fields == {"model_id": "digits", "activate": "true"}
    assert sink.types()[-3:] == [
        "digits.train.upload.v1",
        "digits.train.prune.v1",
        "digits.train.completed.v1",
    ]


def test_an_upload_that_fails_for_good_fails_the_job_and_keeps_the_artifacts(
    tmp_path: Path,
) -> None:
    sink = Collect()
    with serve_model_api(ModelApi(key="right")) as api:
        settings = _settings(tmp_path, api_url=api.url, api_key="wrong-key-value")
        outcome = run_job(_request(epochs=1), settings, sink)
    assert sink.types()[-2:] == ["digits.train.upload.v1", "digits.train.failed.v1"]
    assert sink.events[-2]["status"] == 401
    assert outcome.error_kind == "system"
    assert outcome.message is not None
    assert "model API answered 401 Unauthorized (check HANDWRITING_API_KEY)" in outcome.message
    assert outcome.message.endswith("artifacts kept in digits/ in the artifacts root")
    assert "wrong-key-value" not in json.dumps(sink.events)
    assert (tmp_path / "artifacts" / "digits" / f"model-{outcome.run_id}.pt").exists()
    assert not (tmp_path / "artifacts" / "digits" / "manifest.json").exists()  # not activated


def test_failure_text_shows_no_url_credentials_or_server_paths(tmp_path: Path) -> None:
    sink = Collect()
    url = "http://admin:hunter2@127.0.0.1:9/api"  # nothing listens: no response
    outcome = run_job(_request(epochs=1), _settings(tmp_path, api_url=url, api_key="k"), sink)
    text = json.dumps(sink.events[-1])
    assert outcome.message is not None and "no response from <url>: ConnectError" in text
    for secret in ("hunter2", "admin", "127.0.0.1", str(tmp_path)):
        assert secret not in text


def test_an_api_url_without_a_key_fails_before_uploading(tmp_path: Path) -> None:
    sink = Collect()
    outcome = run_job(_request(epochs=1), _settings(tmp_path, api_url="http://127.0.0.1:9"), sink)
    assert outcome.message == (
        "upload not attempted: HANDWRITING_API_URL is set but HANDWRITING_API_KEY is not"
    )
    assert "digits.train.upload.v1" not in sink.types()


def test_missing_data_fails_the_job_naming_the_path(tmp_path: Path) -> None:
    sink = Collect()
    outcome = run_job(_request(), _settings(tmp_path, data_root=tmp_path / "nowhere"), sink)
    assert sink.types() == ["digits.train.started.v1", "digits.train.failed.v1"]
    assert outcome.message is not None
    assert outcome.message.startswith("training failed: ")
    assert str(tmp_path) not in outcome.message  # server paths stay in the log
    assert ".../" in outcome.message


def test_an_unexpected_error_is_the_job_s_failure_with_its_step(tmp_path: Path) -> None:
    (tmp_path / "artifacts").write_text("a file where the artifacts folder should be")
    sink = Collect()
    outcome = run_job(_request(epochs=1), _settings(tmp_path), sink)
    assert sink.types()[-1] == "digits.train.failed.v1"
    assert outcome.message is not None
    assert outcome.message.startswith(
        "training failed: FileExistsError:"
    ) or outcome.message.startswith("training failed: NotADirectoryError:")


def test_prune_keeps_the_newest_runs(tmp_path: Path) -> None:
    model_dir = tmp_path / "artifacts" / "digits"
    model_dir.mkdir(parents=True)
    for old in ("19990101T000000Z-aaaaaa", "19990102T000000Z-bbbbbb"):
        (model_dir / f"model-{old}.pt").write_bytes(b"x")
        (model_dir / f"manifest-{old}.json").write_text("{}")
    sink = Collect()
    outcome = run_job(_request(epochs=1), _settings(tmp_path, keep=2), sink)
    prune = next(e for e in sink.events if e["type"] == "digits.train.prune.v1")
    assert prune["deleted_count"] == 2
    assert sorted(p.name for p in model_dir.glob("model-*.pt")) == [
        "model-19990102T000000Z-bbbbbb.pt",
        f"model-{outcome.run_id}.pt",
    ]


def test_a_timeout_in_the_work_horse_is_reported_by_the_job(tmp_path: Path) -> None:
    sink = Collect()
    assert threading.current_thread() is threading.main_thread()  # SIGALRM needs it

    def alarm(signum: int, frame: object) -> None:  # what the worker's death penalty does
        raise JobTimedOut(1)

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(1)
    try:
        outcome = run_job(_request(epochs=50), _settings(tmp_path, samples=2048), sink)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert outcome.message == "timed out after 1 s"  # the job's own limit, not the setting
    assert sink.types()[-1] == "digits.train.failed.v1"


class TimesOutOnABatch(Collect):
    """The alarm lands while the trainer's observer hands a batch event over."""

    def publish(self, event: Event) -> None:
        if event["type"] == "digits.train.batch.v1":
            raise JobTimedOut(7)
        super().publish(event)


def test_a_timeout_inside_an_observer_call_is_not_swallowed(tmp_path: Path) -> None:
    sink = TimesOutOnABatch()
    outcome = run_job(_request(epochs=50), _settings(tmp_path, samples=2048), sink)
    assert outcome.message == "timed out after 7 s"
    assert sink.types() == ["digits.train.started.v1", "digits.train.failed.v1"]


def test_train_job_runs_outside_rq_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTS__ENABLED", "false")
    outcome = train_job("not an object")
    assert (outcome["status"], outcome["run_id"]) == ("failed", None)


def test_max_train_samples_zero_trains_on_the_whole_split(tmp_path: Path) -> None:
    full = _digits(_settings(tmp_path, samples=0), download=False)
    cut = _digits(_settings(tmp_path, samples=100), download=False)
    assert full.train_labels.shape[0] == 8000
    assert cut.train_labels.shape[0] == 100
    assert cut.val_labels.shape[0] == full.val_labels.shape[0] == 2000
