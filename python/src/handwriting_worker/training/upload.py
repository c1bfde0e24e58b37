"""Uploads a trained model to the model API, with a timeout and bounded retries.

``POST {api_url}/v1/admin/models/upload`` as multipart: form fields ``model_id`` and
``activate``, files ``manifest`` (manifest.json) and ``model`` (model.pt), header
``X-Api-Key``. The files sent are this run's snapshot (``model-<run_id>.pt``,
``manifest-<run_id>.json``), never the model-wide copies another job may be rewriting, and
the manifest is checked against its schema first (``digits.manifest.v1``): one that breaks
it is not sent (status 0, the error names the field).
Transport errors, 5xx, 408 and 429 answers are retried with exponential backoff (a 429's
Retry-After is honoured, up to ``MAX_RETRY_AFTER_S``); any other non-2xx answer fails at once.
The key never appears in errors or logs, nor the URL in event text (see ``texts``).
A job uploads only a run the operator's policy activates (``activation``, DIGITS__ACTIVATE):
the model API writes the model's files on every upload, ``activate`` true or not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from handwriting_ai import defaults
from handwriting_ai.manifest import ManifestError, parse_manifest

log = logging.getLogger(__name__)

UPLOAD_PATH = "/v1/admin/models/upload"
RETRIED = frozenset({408, 429})
MAX_RETRY_AFTER_S = 60.0
MAX_STATUS = 599
"""The upload event's schema allows 0..599; an odd status above is reported as 599."""


def run_files(model_dir: Path, run_id: str) -> tuple[Path, Path]:
    """This run's model and manifest (what the trainer wrote for ``run_id``)."""
    return model_dir / f"model-{run_id}.pt", model_dir / f"manifest-{run_id}.json"


def _retry_after(response: httpx.Response) -> float | None:
    """A 429's Retry-After in seconds (delta-seconds form), capped; None when absent or odd."""
    value = response.headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    if seconds is None or not 0 <= seconds < float("inf"):
        return None
    return min(seconds, MAX_RETRY_AFTER_S)


@dataclass(frozen=True)
class UploadConfig:
    """Where and how to upload; built from settings by the job."""

    api_url: str
    api_key: str
    timeout_s: float = defaults.UPLOAD_TIMEOUT_S
    attempts: int = defaults.UPLOAD_ATTEMPTS
    backoff_s: float = defaults.UPLOAD_BACKOFF_S

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"upload attempts must be at least 1, got {self.attempts}")


@dataclass(frozen=True)
class UploadResult:
    """What the upload event reports: the final HTTP status (0 = no response) and sizes."""

    status: int
    model_bytes: int
    manifest_bytes: int
    error: str | None = None
    """One-line cause when the upload failed for good; None when it succeeded."""

    @property
    def ok(self) -> bool:
        return self.error is None


def _hint(status: int) -> str:
    if status in (401, 403):
        return " (check HANDWRITING_API_KEY)"
    if status == 404:
        return " (check HANDWRITING_API_URL)"
    return ""


def upload_model(
    config: UploadConfig,
    model_id: str,
    model_dir: Path,
    run_id: str,
    *,
    activate: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> UploadResult:
    """Uploads run ``run_id``'s files; never raises for HTTP or transport trouble."""
    model_path, manifest_path = run_files(model_dir, run_id)
    model = model_path.read_bytes()
    manifest = manifest_path.read_bytes()
    try:
        parse_manifest(manifest)
    except ManifestError as exc:
        cause = f"{manifest_path.name} breaks its schema, not uploaded: {exc}"
        return UploadResult(0, len(model), len(manifest), cause)
    url = config.api_url.rstrip("/") + UPLOAD_PATH
    status = 0
    cause = "no attempt made"
    with httpx.Client(timeout=config.timeout_s) as client:
        for attempt in range(1, config.attempts + 1):
            try:
                response = client.post(
                    url,
                    headers={"X-Api-Key": config.api_key},
                    data={"model_id": model_id, "activate": "true" if activate else "false"},
                    files={
                        "manifest": ("manifest.json", manifest, "application/json"),
                        "model": ("model.pt", model, "application/octet-stream"),
                    },
                )
            except httpx.HTTPError as exc:
                status = 0
                wait = None
                cause = f"no response from {url}: {type(exc).__name__}"
            else:
                status = min(response.status_code, MAX_STATUS)
                if response.is_success:
                    return UploadResult(status, len(model), len(manifest))
                code = response.status_code
                wait = _retry_after(response) if code == 429 else None
                cause = f"model API answered {code} {response.reason_phrase}{_hint(code)}"
                if code < 500 and code not in RETRIED:
                    break  # the request itself is wrong: retrying will not help
            if attempt < config.attempts:
                delay = config.backoff_s * 2 ** (attempt - 1) if wait is None else wait
                log.warning(
                    "upload attempt %d/%d failed: %s; retrying in %.1f s",
                    attempt,
                    config.attempts,
                    cause,
                    delay,
                )
                sleep(delay)
    return UploadResult(
        status, len(model), len(manifest), f"upload failed after {attempt} attempt(s): {cause}"
    )
