"""load_settings: defaults, and one clear paragraph per bad variable; redact_url."""

from __future__ import annotations

import pytest

from handwriting_ai.settings import (
    DEFAULT_REDIS_URL,
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
        "RQ__JOB_TIMEOUT_S",
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
        (
            "DIGITS_EVENTS_CHANNEL",
            "",
            "DIGITS_EVENTS_CHANNEL='' is invalid: String should have at least 1 character. It "
            "accepts text of at least 1 character(s)",
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
        ("DIGITS_EVENTS_STREAM", "", "DIGITS_EVENTS_STREAM='' is invalid: String should have"),
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
        ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
        ("redis://user:p%40ss@h/0", "redis://user:***@h/0"),
        ("rediss://h:6379/0?password=x&db=1", "rediss://h:6379/0?password=***&db=1"),
        ("unix:///tmp/redis.sock", "unix:///tmp/redis.sock"),
        ("redis://user@h", "redis://user@h"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("http://[::1", "<unparsable URL>"),
    ],
)
def test_redact_url_hides_passwords(url: str, shown: str) -> None:
    assert redact_url(url) == shown
