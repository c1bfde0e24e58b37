"""Everything configurable on the Python side, in one place (environment variables).

Nested sections use ``__``: ``EVENTS__BATCH_EVERY=5`` sets ``events.batch_every``. Read them
with ``load_settings()``, which turns a bad value into one ``SettingsError`` paragraph naming
the variable and what it accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args
from urllib.parse import unquote, urlsplit

from annotated_types import Ge, Gt, Le, MinLen
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from handwriting_ai import defaults
from handwriting_ai.contracts.names import EVENTS_CHANNEL, EVENTS_STREAM, REQUESTS_STREAM

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
"""Where Redis is when REDIS_URL is unset."""

REDIS_SCHEMES = ("redis", "rediss", "unix")
HTTP_SCHEMES = ("http", "https")


class EventsSettings(BaseModel):
    """``EVENTS__*``: what the trainer publishes."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    enabled: bool = True
    """EVENTS__ENABLED: false publishes nothing."""
    batch_every: int = Field(default=defaults.BATCH_EVERY, ge=0)
    """EVENTS__BATCH_EVERY: a batch event on the first, every N-th and the last batch; 0 = none."""
    legacy: bool = False
    """EVENTS__LEGACY: also emit the legacy compact events."""
    queue_size: int = Field(default=defaults.QUEUE_SIZE, ge=16, le=1_000_000)
    """EVENTS__QUEUE_SIZE: events waiting to be published at most; batch events use 3/4 of it."""
    redis_timeout_s: float = Field(default=defaults.REDIS_TIMEOUT_S, gt=0, le=30)
    """EVENTS__REDIS_TIMEOUT_S: connect and reply timeout of one PUBLISH, in seconds."""
    close_timeout_s: float = Field(default=defaults.CLOSE_TIMEOUT_S, gt=0, le=60)
    """EVENTS__CLOSE_TIMEOUT_S: how long the end of a job waits to flush queued events."""
    stream_maxlen: int = Field(default=100_000, ge=1_000, le=100_000_000)
    """EVENTS__STREAM_MAXLEN: entries the event log keeps at most (trimmed approximately)."""
    stream_max_age_s: int = Field(default=7 * 24 * 3600, ge=60)
    """EVENTS__STREAM_MAX_AGE_S: seconds an entry stays in the event log at most."""


class RqSettings(BaseModel):
    """``RQ__*``: the job queue."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    queue: str = Field(default="digits", min_length=1)
    """RQ__QUEUE: queue name shared by every worker."""
    job_timeout_s: int = Field(default=3600, ge=60)
    """RQ__JOB_TIMEOUT_S: how long one training job may run (RQ's default of 180 s is too short)."""
    lost_worker_after_s: int = Field(default=180, ge=4)
    """RQ__LOST_WORKER_AFTER_S: a job whose worker is gone (host lost, killed) is reported failed
    by a surviving worker within this many seconds."""


class IntakeSettings(BaseModel):
    """``INTAKE__*``: ``handwriting_worker intake``, which moves Discord's requests into RQ."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    group: str = Field(default="intake", min_length=1)
    """INTAKE__GROUP: the consumer group all intakes share on DIGITS_REQUESTS_STREAM."""
    claim_idle_s: float = Field(default=30.0, gt=0, le=3600)
    """INTAKE__CLAIM_IDLE_S: an entry an intake read but never finished (it died) is taken over
    by another intake after this many seconds."""


class DigitsSettings(BaseModel):
    """``DIGITS__*``: data, artifacts and retention."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    data_root: Path = Path("data/mnist")
    """DIGITS__DATA_ROOT: folder of MNIST IDX files (the offline set by default)."""
    artifacts_root: Path = Path("artifacts")
    """DIGITS__ARTIFACTS_ROOT: models are written to <root>/<model_id>/."""
    retention_keep_runs: int = Field(default=3, ge=1)
    """DIGITS__RETENTION_KEEP_RUNS: run snapshots of a model kept by the prune step."""
    spool_dir: Path = Path("spool")
    """DIGITS__SPOOL_DIR: lifecycle events Redis could not take wait here for delivery."""
    mnist_mirror: str | None = None
    """DIGITS__MNIST_MIRROR: URL of a folder with the MNIST *-ubyte.gz files for --download."""
    mnist_md5s: dict[str, str] = {}
    """DIGITS__MNIST_MD5S: JSON {file name: md5} replacing torchvision's checksums."""

    activate: Literal["never", "better", "always"] = "better"
    """DIGITS__ACTIVATE: which runs become the served model (uploaded and named by the
    model's manifest.json): never, better (val_acc at least DIGITS__ACTIVATE_MIN_VAL_ACC and
    above the active model's) or always."""
    activate_min_val_acc: float = Field(default=0.9, ge=0, le=1)
    """DIGITS__ACTIVATE_MIN_VAL_ACC: the val_acc a run needs at least to be activated (better)."""

    @field_validator("mnist_mirror")
    @classmethod
    def _mirror_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_url(value, HTTP_SCHEMES)
        return value


class TrainSettings(BaseModel):
    """``TRAIN__*``: the trainer's machine use."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    threads: int = Field(default=0, ge=0)
    """TRAIN__THREADS: torch threads; 0 = the CPUs this process may use (cgroup-aware)."""
    arch: Literal["cnn", "resnet18"] = "cnn"
    """TRAIN__ARCH: cnn (small and fast on a CPU) or resnet18 (the previous system's model)."""
    max_train_samples: int = Field(default=0, ge=0)
    """TRAIN__MAX_TRAIN_SAMPLES: train on the first N digits of the split only; 0 = all."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """TRAIN__DEVICE: auto (a CUDA GPU when torch sees one, else the CPU), cpu or cuda."""


class UploadSettings(BaseModel):
    """``UPLOAD__*``: how the worker talks to the model API."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    timeout_s: float = Field(default=defaults.UPLOAD_TIMEOUT_S, gt=0)
    """UPLOAD__TIMEOUT_S: seconds to wait for one upload attempt."""
    attempts: int = Field(default=defaults.UPLOAD_ATTEMPTS, ge=1, le=10)
    """UPLOAD__ATTEMPTS: tries in all, on transport errors and 5xx answers."""
    backoff_s: float = Field(default=defaults.UPLOAD_BACKOFF_S, ge=0)
    """UPLOAD__BACKOFF_S: wait before the second try; doubles before each later one."""


class Settings(BaseSettings):
    """All settings; read with ``load_settings()``."""

    model_config = SettingsConfigDict(
        env_nested_delimiter="__",
        extra="ignore",
        use_attribute_docstrings=True,
        env_ignore_empty=True,  # VAR= (an example line uncommented) is unset, not ''
    )

    events: EventsSettings = EventsSettings()
    rq: RqSettings = RqSettings()
    intake: IntakeSettings = IntakeSettings()
    digits: DigitsSettings = DigitsSettings()
    train: TrainSettings = TrainSettings()
    upload: UploadSettings = UploadSettings()
    digits_events_channel: str = Field(default=EVENTS_CHANNEL, min_length=1)
    """DIGITS_EVENTS_CHANNEL: the Redis Pub/Sub channel events go to."""
    digits_events_stream: str = Field(default=EVENTS_STREAM, min_length=1)
    """DIGITS_EVENTS_STREAM: the Redis Stream every event is also appended to (the log)."""
    digits_requests_stream: str = Field(default=REQUESTS_STREAM, min_length=1)
    """DIGITS_REQUESTS_STREAM: the Redis Stream the bot appends /train and Cancel requests to."""
    redis_url: SecretStr | None = None
    """REDIS_URL: where Redis is (may hold a password: never logged as is)."""
    handwriting_api_url: str | None = None
    """HANDWRITING_API_URL: model API base URL; unset skips the upload step."""
    handwriting_api_key: SecretStr | None = None
    """HANDWRITING_API_KEY: sent as X-Api-Key on upload; never logged."""

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_url(value.get_secret_value(), REDIS_SCHEMES)
        return value

    @field_validator("handwriting_api_url")
    @classmethod
    def _api_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_url(value, HTTP_SCHEMES)
        return value

    def redis_url_value(self) -> str:
        """REDIS_URL with its secret, or ``DEFAULT_REDIS_URL`` when unset (never log it)."""
        return DEFAULT_REDIS_URL if self.redis_url is None else self.redis_url.get_secret_value()


class SettingsError(ValueError):
    """A bad environment variable; the message names it and says what it accepts."""


_SECRET_QUERY_KEYS = frozenset({"password", "pass", "pwd", "token", "secret"})


def redact_url(url: str) -> str:
    """``url`` with its user information and any ``?password=`` value replaced by ``***``.

    Everything between ``://`` and the last ``@`` of the raw text is hidden, however the
    password is written: a ``/``, ``#``, ``?`` or ``@`` in it (common in base64 passwords)
    ends the part a URL parser calls the password, and the rest would be printed. A query
    value is hidden up to the next ``&``, ``#`` included.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    _, at, after = rest.rpartition("@")
    if at:
        rest = "***@" + after
    head, question, query = rest.partition("?")
    if question:
        pairs = [pair.partition("=") for pair in query.split("&")]
        query = "&".join(
            f"{key}{eq}{'***' if unquote(key).lower() in _SECRET_QUERY_KEYS else value}"
            for key, eq, value in pairs
        )
    return f"{scheme}://{head}{question}{query}"


def check_url(url: str, schemes: tuple[str, ...]) -> None:
    """``ValueError`` when ``url`` cannot be used; the reason never quotes the URL's parts."""
    encode = (
        "; write a /, #, ?, @ or % in a user name or password percent-encoded "
        "(%2F, %23, %3F, %40, %25)"
    )
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        starts = [f"{scheme}://" for scheme in schemes]
        raise ValueError(f"the URL must start with {', '.join(starts[:-1])} or {starts[-1]}")
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// URL needs the socket's path (unix:///run/redis.sock)")
        return
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise ValueError(f"the port is not a number from 0 to 65535{encode}") from None
    if not parts.hostname:
        raise ValueError(f"the URL names no host{encode}")


def _model_fields(model: object) -> dict[str, FieldInfo]:
    return model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else {}


def _field(loc: tuple[int | str, ...]) -> FieldInfo | None:
    fields = Settings.model_fields
    info: FieldInfo | None = None
    for part in loc:
        info = fields.get(str(part))
        inner = None if info is None else info.annotation
        fields = _model_fields(inner)
    return info


def _is_secret(info: FieldInfo) -> bool:
    annotation = info.annotation
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _accepts(name: str, info: FieldInfo) -> str:
    """What a field accepts, in words: kind, bounds, meaning, default."""
    annotation = info.annotation
    kinds: dict[object, str] = {
        bool: "true or false (also 1/0, yes/no, on/off)",
        int: "a whole number",
        float: "a number",
        str: "text",
        Path: "a path",
    }
    kind = kinds.get(annotation, "a value")
    if name == "REDIS_URL":
        kind = "redis://[[user]:password@]host[:port][/db], rediss://... or unix:///path"
    elif name.endswith(("_URL", "_MIRROR")):
        kind = "an http:// or https:// URL"
    bounds: list[str] = []
    words = (
        (Ge, "ge", ">= {}"),
        (Gt, "gt", "> {}"),
        (Le, "le", "<= {}"),
        (MinLen, "min_length", "of at least {} character(s)"),
    )
    for rule in info.metadata:
        for rule_type, attribute, template in words:
            if isinstance(rule, rule_type):
                bounds.append(template.format(getattr(rule, attribute)))
    text = " ".join([kind, " and ".join(bounds)]).strip()
    meaning = (info.description or "").partition(": ")[2].rstrip(".")
    text += f" ({meaning})" if meaning else ""
    default = info.default
    if isinstance(default, bool):
        text += f"; unset it for the default {str(default).lower()}"
    elif default is not None:
        text += f"; unset it for the default {default}"
    return text


def _explain(exc: ValidationError) -> str:
    lines: list[str] = []
    for error in exc.errors():
        loc = error["loc"]
        name = "__".join(str(part) for part in loc).upper()
        info = _field(loc)
        # A secret's value is never repeated, not even a wrong one.
        secret = info is None or _is_secret(info)
        shown = "" if secret else f"={redact_url(str(error['input']))[:80]!r}"
        reason = error["msg"].removeprefix("Value error, ")
        accepts = "" if info is None else f" It accepts {_accepts(name, info)}."
        lines.append(f"{name}{shown} is invalid: {reason}.{accepts}")
    return "Invalid settings: " + " ".join(lines) + " Fix or unset the variable and start again."


def load_settings() -> Settings:
    """Settings from the environment; ``SettingsError`` naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None
