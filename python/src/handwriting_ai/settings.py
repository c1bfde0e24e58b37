"""Everything configurable on the Python side, in one place (environment variables).

Nested sections use ``__``: ``EVENTS__BATCH_EVERY=5`` sets ``events.batch_every``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class EventsSettings(BaseModel):
    """``EVENTS__*``: what the trainer publishes."""

    enabled: bool = True
    """EVENTS__ENABLED: false publishes nothing."""
    batch_every: int = Field(default=10, ge=0)
    """EVENTS__BATCH_EVERY: a batch event on the first, every N-th and the last batch; 0 = none."""
    legacy: bool = False
    """EVENTS__LEGACY: also emit the legacy compact events."""


class RqSettings(BaseModel):
    """``RQ__*``: the job queue."""

    queue: str = Field(default="digits", min_length=1)
    """RQ__QUEUE: queue name shared by every worker."""
    job_timeout_s: int = Field(default=3600, ge=60)
    """RQ__JOB_TIMEOUT_S: how long one training job may run (RQ's default of 180 s is too short)."""


class DigitsSettings(BaseModel):
    """``DIGITS__*``: data, artifacts and retention."""

    data_root: Path = Path("data/mnist")
    """DIGITS__DATA_ROOT: folder of MNIST IDX files (the offline set by default)."""
    artifacts_root: Path = Path("artifacts")
    """DIGITS__ARTIFACTS_ROOT: models are written to <root>/<model_id>/."""
    retention_keep_runs: int = Field(default=3, ge=1)
    """DIGITS__RETENTION_KEEP_RUNS: run snapshots of a model kept by the prune step."""


class TrainSettings(BaseModel):
    """``TRAIN__*``: the trainer's machine use."""

    threads: int = Field(default=0, ge=0)
    """TRAIN__THREADS: torch threads; 0 = the CPUs this process may use (cgroup-aware)."""


class Settings(BaseSettings):
    """All settings; read with ``load_settings()``."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    events: EventsSettings = EventsSettings()
    rq: RqSettings = RqSettings()
    digits: DigitsSettings = DigitsSettings()
    train: TrainSettings = TrainSettings()
    digits_events_channel: str = Field(default="digits:events", min_length=1)
    """DIGITS_EVENTS_CHANNEL: the Redis Pub/Sub channel events go to."""
    redis_url: SecretStr | None = None
    """REDIS_URL: where Redis is (may hold a password: never logged as is)."""
    handwriting_api_url: str | None = None
    """HANDWRITING_API_URL: model API base URL; unset skips the upload step."""
    handwriting_api_key: SecretStr | None = None
    """HANDWRITING_API_KEY: sent as X-Api-Key on upload; never logged."""
