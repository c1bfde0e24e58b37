"""Uploads a trained model to the model API, with a timeout and bounded retries.

``POST {api_url}/v1/admin/models/upload`` as multipart: form fields ``model_id`` and
``activate``, files ``manifest`` (manifest.json) and ``model`` (model.pt), header
``X-Api-Key``. Transport errors and 5xx answers are retried with exponential backoff; any
other non-2xx answer fails at once. The key never appears in errors or logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

UPLOAD_PATH = "/v1/admin/models/upload"


@dataclass(frozen=True)
class UploadConfig:
    """Where and how to upload; built from settings by the job."""

    api_url: str
    api_key: str
    timeout_s: float = 30.0
    attempts: int = 3
    backoff_s: float = 0.5

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
    *,
    activate: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> UploadResult:
    """Uploads ``model_dir``'s canonical files; never raises for HTTP or transport trouble."""
    model = (model_dir / "model.pt").read_bytes()
    manifest = (model_dir / "manifest.json").read_bytes()
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
                cause = f"no response from {url}: {type(exc).__name__}"
            else:
                status = response.status_code
                if response.is_success:
                    return UploadResult(status, len(model), len(manifest))
                cause = f"model API answered {status} {response.reason_phrase}{_hint(status)}"
                if status < 500:
                    break  # the request itself is wrong: retrying will not help
            if attempt < config.attempts:
                delay = config.backoff_s * 2 ** (attempt - 1)
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
