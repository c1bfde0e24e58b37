"""Upload to a real HTTP model API on 127.0.0.1, and pruning of run snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from handwriting_ai.manifest import manifest_bytes
from handwriting_worker.training.prune import prune_snapshots, snapshot_runs
from handwriting_worker.training.upload import UploadConfig, upload_model
from tests.manifests import valid_manifest
from tests.model_api import ModelApi, serve_model_api

RUN = "20261128T160000Z-abc123"
MANIFEST = manifest_bytes(valid_manifest(RUN))


def _model_dir(tmp_path: Path) -> Path:
    """This run's files, beside model-wide copies another job has just rewritten."""
    folder = tmp_path / "digits"
    folder.mkdir()
    (folder / f"model-{RUN}.pt").write_bytes(b"\x00weights" * 100)
    (folder / f"manifest-{RUN}.json").write_bytes(MANIFEST)
    (folder / "model.pt").write_bytes(b"another run's weights")
    (folder / "manifest.json").write_bytes(b'{"another": "run"}')
    return folder


def _config(api: ModelApi, **kw: float) -> UploadConfig:
    return UploadConfig(
        api_url=api.url + "/",
        api_key="test-key",
        timeout_s=kw.get("timeout_s", 5.0),
        attempts=int(kw.get("attempts", 3)),
        backoff_s=0.0,
    )


def test_upload_sends_the_fields_files_and_key(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    with serve_model_api(ModelApi()) as api:
        result = upload_model(_config(api), "digits", folder, RUN)
    assert result.ok and result.status == 200
    assert (result.model_bytes, result.manifest_bytes) == (800, len(MANIFEST))
    [req] = api.received
    assert req.path == "/v1/admin/models/upload"
    assert req.api_key == "test-key"
    assert req.fields == {"model_id": "digits", "activate": "true"}
    assert req.files == {
        "manifest": ("manifest.json", MANIFEST),
        "model": ("model.pt", b"\x00weights" * 100),
    }


def test_upload_retries_5xx_with_backoff_then_succeeds(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    sleeps: list[float] = []
    with serve_model_api(ModelApi(statuses=[500, 503])) as api:
        config = UploadConfig(api.url, "test-key", timeout_s=5, attempts=3, backoff_s=0.25)
        result = upload_model(config, "digits", folder, RUN, activate=False, sleep=sleeps.append)
    assert result.ok and result.status == 200
    assert len(api.received) == 3
    assert api.received[0].fields["activate"] == "false"
    assert sleeps == [0.25, 0.5]


def test_upload_gives_up_after_the_last_attempt(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    with serve_model_api(ModelApi(statuses=[500, 500, 500])) as api:
        result = upload_model(_config(api), "digits", folder, RUN)
    assert not result.ok
    assert result.status == 500
    assert result.error == (
        "upload failed after 3 attempt(s): model API answered 500 Internal Server Error"
    )
    assert len(api.received) == 3


def test_wrong_key_fails_at_once_and_never_shows_the_key(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    with serve_model_api(ModelApi(key="right-key")) as api:
        result = upload_model(_config(api), "digits", folder, RUN)
    assert result.status == 401
    assert len(api.received) == 1
    assert result.error is not None
    assert "check HANDWRITING_API_KEY" in result.error
    assert "test-key" not in result.error


def test_wrong_url_path_hints_at_the_url(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    with serve_model_api(ModelApi()) as api:
        config = UploadConfig(api.url + "/prefix", "test-key", attempts=1)
        result = upload_model(config, "digits", folder, RUN)
    assert result.status == 404
    assert result.error is not None and "check HANDWRITING_API_URL" in result.error


def test_timeout_counts_as_no_response(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    with serve_model_api(ModelApi(delay_s=1.0)) as api:
        result = upload_model(_config(api, timeout_s=0.2, attempts=2), "digits", folder, RUN)
    assert result.status == 0
    assert result.error is not None
    assert result.error.startswith(
        "upload failed after 2 attempt(s): no response from http://127.0.0.1:"
    )
    assert "ReadTimeout" in result.error


def test_429_waits_as_told_and_408_is_retried(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    sleeps: list[float] = []
    with serve_model_api(ModelApi(statuses=[429, 408, 429], retry_after="2")) as api:
        config = UploadConfig(api.url, "test-key", timeout_s=5, attempts=4, backoff_s=0.25)
        result = upload_model(config, "digits", folder, RUN, sleep=sleeps.append)
    assert result.ok and len(api.received) == 4
    assert sleeps == [2.0, 0.5, 2.0]


@pytest.mark.parametrize(("header", "wait"), [("600", 60.0), ("soon", 0.25), ("-1", 0.25)])
def test_a_429_without_a_usable_retry_after_backs_off(
    tmp_path: Path, header: str, wait: float
) -> None:
    folder = _model_dir(tmp_path)
    sleeps: list[float] = []
    with serve_model_api(ModelApi(statuses=[429], retry_after=header)) as api:
        config = UploadConfig(api.url, "test-key", timeout_s=5, attempts=2, backoff_s=0.25)
        assert upload_model(config, "digits", folder, RUN, sleep=sleeps.append).ok
    assert sleeps == [wait]


def test_a_status_above_599_stays_a_valid_upload_event(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    with serve_model_api(ModelApi(statuses=[600])) as api:
        result = upload_model(_config(api, attempts=1), "digits", folder, RUN)
    assert result.status == 599
    assert result.error is not None and "answered 600" in result.error


def test_a_manifest_that_breaks_its_schema_is_not_sent(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    (folder / f"manifest-{RUN}.json").write_bytes(b'{"model_id": "digits"}')
    with serve_model_api(ModelApi()) as api:
        result = upload_model(_config(api), "digits", folder, RUN)
    assert api.received == []
    assert (result.status, result.model_bytes, result.manifest_bytes) == (0, 800, 22)
    assert result.error is not None
    assert result.error.startswith(f"manifest-{RUN}.json breaks its schema, not uploaded: ")
    assert "invalid digits.manifest.v1: $: 'format' is a required property" in result.error


def test_upload_config_rejects_zero_attempts() -> None:
    with pytest.raises(ValueError, match="upload attempts must be at least 1, got 0"):
        UploadConfig("http://127.0.0.1:1", "k", attempts=0)


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_text(name)


def test_prune_keeps_the_newest_runs_and_nothing_else_is_touched(tmp_path: Path) -> None:
    folder = tmp_path / "digits"
    folder.mkdir()
    runs = [
        "20261128T100000Z-aaaaaa",
        "20261128T110000Z-bbbbbb",
        "20261128T120000Z-cccccc",
        "20261128T130000Z-dddddd",
    ]
    for run in runs:
        _touch(folder, f"model-{run}.pt", f"manifest-{run}.json")
    _touch(folder, "model.pt", "manifest.json", "notes.txt", "model-x.pt.tmp", "manifest-.json.bak")
    _touch(folder, "model-final.pt", "manifest-final.json")  # a person's files: not snapshots
    (folder / "model-dir.pt").mkdir()  # a folder named like a snapshot is not one

    deleted = prune_snapshots(folder, keep_runs=2)

    assert sorted(p.name for p in deleted) == [
        f"manifest-{runs[0]}.json",
        f"manifest-{runs[1]}.json",
        f"model-{runs[0]}.pt",
        f"model-{runs[1]}.pt",
    ]
    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted(
        [
            f"model-{runs[2]}.pt",
            f"manifest-{runs[2]}.json",
            f"model-{runs[3]}.pt",
            f"manifest-{runs[3]}.json",
            ".activate.lock",
            "model.pt",
            "manifest.json",
            "notes.txt",
            "model-x.pt.tmp",
            "manifest-.json.bak",
            "model-dir.pt",
            "model-final.pt",
            "manifest-final.json",
        ]
    )
    assert set(snapshot_runs(folder)) == {runs[2], runs[3]}


def test_prune_counts_a_run_with_one_file_and_rejects_keep_zero(tmp_path: Path) -> None:
    r1, r2 = "20261128T100000Z-000001", "20261128T100000Z-000002"
    _touch(tmp_path, f"model-{r1}.pt", f"manifest-{r2}.json", f"model-{r2}.pt")
    assert [p.name for p in prune_snapshots(tmp_path, keep_runs=1)] == [f"model-{r1}.pt"]
    assert prune_snapshots(tmp_path, keep_runs=1) == []
    with pytest.raises(ValueError, match="keep_runs must be at least 1, got 0"):
        prune_snapshots(tmp_path, keep_runs=0)
