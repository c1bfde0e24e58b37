"""load_settings: defaults, and one clear paragraph per bad variable; redact_url."""

from __future__ import annotations

import pytest

from handwriting_ai.settings import (
    DEFAULT_REDIS_URL,
    DigitsSettings,
    SettingsError,
    load_settings,
    redact_url,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "REDIS_URL",
        "DIGITS_EVENTS_CHANNEL",
        "DIGITS_EVENTS_STREAM",
        "DIGITS__SPOOL_DIR",
        "EVENTS__CLOSE_TIMEOUT_S",
        "EVENTS__ENABLED",
        "EVENTS__BATCH_EVERY",
        "EVENTS__LEGACY",
        "HANDWRITING_API_KEY",
        "HANDWRITING_API_URL",
        "DIGITS__MNIST_MIRROR",
        "RQ__JOB_TIMEOUT_S",
        "RQ__QUEUE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.events.enabled is True
    assert settings.events.batch_every == 10
    assert settings.events.legacy is False
    assert settings.digits_events_channel == "digits:events"
    assert settings.digits_events_stream == "digits:events:log"
    assert (settings.events.stream_maxlen, settings.events.stream_max_age_s) == (100_000, 604_800)
    assert str(settings.digits.spool_dir) == "spool"
    assert settings.redis_url is None
    assert settings.redis_url_value() == DEFAULT_REDIS_URL == "redis://127.0.0.1:6379/0"


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTS__ENABLED", "false")
    monkeypatch.setenv("EVENTS__BATCH_EVERY", "0")
    monkeypatch.setenv("REDIS_URL", "redis://:pw@redis:6380/1")
    settings = load_settings()
    assert (settings.events.enabled, settings.events.batch_every) == (False, 0)
    assert settings.redis_url_value() == "redis://:pw@redis:6380/1"
    assert "pw" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "EVENTS__BATCH_EVERY",
            "-1",
            "EVENTS__BATCH_EVERY='-1' is invalid: Input should be greater than or equal to 0. "
            "It accepts a whole number >= 0 (a batch event on the first, every N-th and the "
            "last batch; 0 = none); unset it for the default 10.",
        ),
        (
            "EVENTS__ENABLED",
            "maybe",
            "EVENTS__ENABLED='maybe' is invalid: Input should be a valid boolean, unable to "
            "interpret input. It accepts true or false (also 1/0, yes/no, on/off) (false "
            "publishes nothing); unset it for the default true.",
        ),
        ("EVENTS__REDIS_TIMEOUT_S", "0", "It accepts a number > 0 and <= 30 (connect"),
        ("EVENTS__QUEUE_SIZE", "8", "It accepts a whole number >= 16 and <= 1000000 ("),
        ("EVENTS__CLOSE_TIMEOUT_S", "61", "It accepts a number > 0 and <= 60"),
        (
            "EVENTS__CLOSE_TIMEOUT_S",
            "0",
            "EVENTS__CLOSE_TIMEOUT_S='0' is invalid: Input should be greater than 0. It accepts "
            "a number > 0 and <= 60 (how long the end of a job waits to flush queued events)",
        ),
        ("EVENTS__STREAM_MAXLEN", "10", "It accepts a whole number >= 1000 and <= 100000000"),
        ("EVENTS__STREAM_MAX_AGE_S", "1", "It accepts a whole number >= 60 (seconds an entry"),
        ("RQ__JOB_TIMEOUT_S", "x", "RQ__JOB_TIMEOUT_S='x' is invalid: Input should be a valid"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_it_accepts(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("Invalid settings: ")
    assert expected in message
    assert "\n" not in message
    assert message.endswith("Fix or unset the variable and start again.")


def test_a_bad_redis_url_is_explained_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "http://user:hunter2@redis:6379")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "hunter2" not in message
    assert message.startswith(
        "Invalid settings: REDIS_URL is invalid: the URL must start with redis://, rediss:// "
        "or unix://. It accepts redis://[[user]:password@]host[:port][/db], rediss://..."
    )


def test_every_bad_variable_is_named_in_one_paragraph(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTS__BATCH_EVERY", "x")
    monkeypatch.setenv("EVENTS__LEGACY", "x")
    with pytest.raises(SettingsError, match=r"EVENTS__BATCH_EVERY='x'.*EVENTS__LEGACY='x'"):
        load_settings()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@h:1/0", "redis://***@h:1/0"),
        ("redis://user:p%40ss@h/0", "redis://***@h/0"),
        ("rediss://h:6379/0?password=x&db=1", "rediss://h:6379/0?password=***&db=1"),
        ("rediss://h/0?db=1&PWD=a#b/c&x=y", "rediss://h/0?db=1&PWD=***&x=y"),
        ("unix:///tmp/redis.sock", "unix:///tmp/redis.sock"),
        ("unix:///tmp/redis.sock?password=x", "unix:///tmp/redis.sock?password=***"),
        ("redis://user@h", "redis://***@h"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("http://[::1", "http://[::1"),
        ("not a URL: a@b", "not a URL: a@b"),
        # base64 passwords: a /, # or ? ends what a URL parser calls the password
        ("redis://:ab/cd+ef==@h:6379/0", "redis://***@h:6379/0"),
        ("redis://user:ab#cd@h:6379/0", "redis://***@h:6379/0"),
        ("redis://:ab?cd=ef@h:6379/0", "redis://***@h:6379/0"),
        ("redis://:a@b/c#d?e@h:6379/0", "redis://***@h:6379/0"),
    ],
)
def test_redact_url_hides_everything_before_the_last_at(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("REDIS_URL", "redis://:Sek/Ret@127.0.0.1:6379/0", "the port is not a number"),
        ("REDIS_URL", "redis://:12/Ret@127.0.0.1:6379/0", "the URL names no host"),
        ("REDIS_URL", "redis://user:Sek#Ret@h:6379/0", "the port is not a number"),
        ("REDIS_URL", "redis://:Sek?Ret@h/0", "the port is not a number"),
        ("REDIS_URL", "redis://h:99999/0", "the port is not a number"),
        ("REDIS_URL", "unix://", "a unix:// URL needs the socket's path"),
        ("HANDWRITING_API_URL", "api.example:8080", "the URL must start with http:// or https://"),
        ("HANDWRITING_API_URL", "https://:8/Ret@api.example", "the URL names no host"),
        ("HANDWRITING_API_URL", "https://u:Sek#Ret@api.example", "the port is not a number"),
        ("DIGITS__MNIST_MIRROR", "ftp://mirror/mnist", "the URL must start with http://"),
    ],
)
def test_a_url_that_cannot_work_stops_start_up_without_its_secrets(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"Invalid settings: {name}")
    assert reason in message
    assert "Sek" not in message
    assert "Ret" not in message


def test_urls_that_work_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:ab%2Fcd%23ef%3Fgh@redis:6380/1")
    monkeypatch.setenv("HANDWRITING_API_URL", "https://api.example/base")
    monkeypatch.setenv("DIGITS__MNIST_MIRROR", "http://127.0.0.1:8000/mnist/")
    settings = load_settings()
    assert settings.redis_url_value() == "redis://:ab%2Fcd%23ef%3Fgh@redis:6380/1"
    assert settings.handwriting_api_url == "https://api.example/base"
    monkeypatch.setenv("REDIS_URL", "unix:///run/redis.sock?db=1")
    assert load_settings().redis_url_value() == "unix:///run/redis.sock?db=1"
    assert DigitsSettings(mnist_mirror=None).mnist_mirror is None  # given as None: no URL


@pytest.mark.parametrize(
    "name",
    [
        "HANDWRITING_API_URL",
        "HANDWRITING_API_KEY",
        "REDIS_URL",
        "EVENTS__BATCH_EVERY",
        "RQ__QUEUE",
        "DIGITS_EVENTS_CHANNEL",
    ],
)
def test_an_empty_value_counts_as_unset(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """``#HANDWRITING_API_URL=`` uncommented in the example env file: the upload stays off."""
    monkeypatch.setenv(name, "")
    assert load_settings() == load_settings_without(monkeypatch, name)


def load_settings_without(monkeypatch: pytest.MonkeyPatch, name: str) -> object:
    monkeypatch.delenv(name)
    return load_settings()


def test_a_bad_url_setting_is_shown_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDWRITING_API_URL", "ftp://user:hunter2@api.example")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)
    assert "HANDWRITING_API_URL='ftp://***@api.example' is invalid" in str(caught.value)
    assert "It accepts an http:// or https:// URL" in str(caught.value)
