"""encode_event / decode_event / validate_request against the real schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handwriting_ai.contracts import SCHEMA_FILES, DigitsTrainBatchV1
from handwriting_ai.events import builders as b
from handwriting_ai.events.codec import (
    EventDecodeError,
    EventEncodeError,
    RequestValidationError,
    decode_event,
    encode_event,
    request_field_problems,
    validate_request,
)
from handwriting_ai.events.schemas import (
    SchemaSetupError,
    load_schemas,
    numeric_bounds,
    schemas_dir,
    validator_for,
)

CTX = b.JobContext("req-1", 2**63 - 1, "model-a", "run-1")


def _batch() -> DigitsTrainBatchV1:
    return b.batch(
        CTX,
        epoch=1,
        total_epochs=2,
        batch=1,
        total_batches=10,
        batch_loss=0.5,
        batch_acc=0.25,
        avg_loss=0.5,
        samples_per_sec=100.0,
    )


def _request(**changes: object) -> dict[str, object]:
    request: dict[str, object] = {
        "type": "digits.train.v1",
        "request_id": "r1",
        "user_id": 1,
        "model_id": "m1",
        "epochs": 2,
        "batch_size": 64,
        "lr": 0.01,
        "seed": 0,
        "augment": False,
        "notes": None,
    }
    request.update(changes)
    return request


def test_encode_is_compact_and_round_trips_exactly() -> None:
    event = _batch()
    text = encode_event(event)
    assert " " not in text
    assert text.startswith('{"type":"digits.train.batch.v1"')
    assert decode_event(text) == event
    assert decode_event(text.encode()) == event  # Redis hands over bytes


def test_big_user_id_keeps_every_digit() -> None:
    text = encode_event(_batch())
    assert '"user_id":9223372036854775807,' in text
    assert decode_event(text)["user_id"] == 2**63 - 1


def test_encode_names_the_non_finite_field() -> None:
    event = _batch()
    event["avg_loss"] = float("nan")
    with pytest.raises(EventEncodeError, match=r"\$\.avg_loss .*NaN"):
        encode_event(event)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", r"^\$: not valid JSON"),
        ('{"a": NaN}', r"^\$\.a: NaN is not a finite number"),
        ("[1]", r"^\$: expected a JSON object, got an array"),
        ('"x"', "got a string"),
        ("null", "got null"),
        ("true", "got a boolean"),
        ("1.5", "got a number"),
        ("{}", r"^\$\.type: missing is not an event type"),
        ('{"type":"nope"}', r"^\$\.type: 'nope' is not an event type; expected one of "),
        ('{"type":"digits.train.v1"}', r"'digits.train.v1' is not an event type"),
    ],
)
def test_decode_rejects_what_is_not_an_event(text: str, reason: str) -> None:
    with pytest.raises(EventDecodeError, match=reason):
        decode_event(text)


def test_decode_rejects_bytes_that_are_not_utf8() -> None:
    with pytest.raises(EventDecodeError, match=r"^\$: not UTF-8"):
        decode_event(b'{"type":"\xff"}')


def _with(**changes: object) -> str:
    event: dict[str, object] = dict(_batch())
    event.update(changes)
    return json.dumps(event)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"epoch": 0}, r"\$\.epoch: 0 is less than the minimum of 1"),
        ({"batch_acc": 1.5}, r"\$\.batch_acc: 1\.5 is greater than the maximum of 1"),
        ({"user_id": "1"}, r"\$\.user_id: '1' is not of type 'integer'"),
        ({"model_id": ""}, r"\$\.model_id: '' should be non-empty"),
        ({"extra": 1}, r"\$: Unevaluated properties are not allowed \('extra' was unexpected\)"),
        ({"ts": "2026-11-28T16:00:00+01:00"}, r"\$\.ts: '2026-11-28T16:00:00\+01:00' does not"),
        # Matches the pattern, but there is no 30 February: only the format check sees it.
        ({"ts": "2026-02-30T10:00:00Z"}, r"\$\.ts: '2026-02-30T10:00:00Z' is not a 'date-time'"),
        ({"ts": "2026-11-28T25:00:00Z"}, r"\$\.ts: .* is not a 'date-time'"),
    ],
)
def test_decode_names_the_field_and_the_rule(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(EventDecodeError, match=r"^invalid digits\.train\.batch\.v1: " + reason):
        decode_event(_with(**changes))


def test_decode_reports_the_first_problem_and_how_many_more() -> None:
    text = json.dumps({"type": "digits.train.started.v1"})
    with pytest.raises(EventDecodeError, match=r"is a required property \(and [0-9]+ more\)$"):
        decode_event(text)


def test_a_huge_bad_value_is_cut_short_in_the_message() -> None:
    with pytest.raises(EventDecodeError) as caught:
        decode_event(_with(model_id=["x" * 10_000]))
    assert len(str(caught.value)) < 500
    assert str(caught.value).endswith("...")


def test_legacy_events_decode() -> None:
    event = b.legacy_progress(CTX, epoch=1, total_epochs=2, val_acc=None)
    assert decode_event(encode_event(event)) == event


def test_validate_request_accepts_a_valid_request() -> None:
    request = _request(notes="hello")
    assert validate_request(request) == request


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": 0}, "$.epochs: 0 is less than the minimum of 1"),
        ({"epochs": 101}, "$.epochs: 101 is greater than the maximum of 100"),
        ({"lr": 0}, "$.lr: 0 is less than or equal to the minimum of 0"),
        ({"model_id": "../etc"}, "$.model_id: '../etc' does not match"),
        ({"augment": "yes"}, "$.augment: 'yes' is not of type 'boolean'"),
        ({"notes": "x" * 501}, "$.notes: "),
        ({"type": "digits.train.v2"}, "$.type: 'digits.train.v1' was expected"),
        ({"extra": 1}, "$: Additional properties are not allowed ('extra' was unexpected)"),
    ],
)
def test_validate_request_names_the_field_and_the_rule(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        validate_request(_request(**changes))
    assert str(caught.value).startswith("invalid digits.train.v1 request: " + message)


def test_validate_request_rejects_a_missing_field_and_a_non_object() -> None:
    request = _request()
    del request["seed"]
    with pytest.raises(RequestValidationError, match=r"\$: 'seed' is a required property"):
        validate_request(request)
    with pytest.raises(RequestValidationError, match=r"\$: \[\] is not of type 'object'"):
        validate_request([])


def test_schemas_dir_is_the_repo_folder() -> None:
    assert schemas_dir() == Path(__file__).resolve().parent.parent / "schemas"


def test_schemas_dir_outside_a_checkout_says_how_to_fix(tmp_path: Path) -> None:
    fake = tmp_path / "python/src/handwriting_ai/events/schemas.py"
    with pytest.raises(SchemaSetupError, match=r"common\.json not found.*pip install -e"):
        schemas_dir(str(fake))


def test_load_schemas_names_a_broken_or_missing_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SchemaSetupError, match=r"bad\.json: cannot read as JSON"):
        load_schemas(tmp_path, {})
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(SchemaSetupError, match=r"bad\.json: a schema must be a JSON object"):
        load_schemas(tmp_path, {})
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SchemaSetupError, match=r"bad\.json: no \$id"):
        load_schemas(tmp_path, {})
    (tmp_path / "bad.json").write_text('{"$id": "https://x.example/bad.json"}')
    with pytest.raises(SchemaSetupError, match=r"gone\.json \(schema of 'gone'\) is missing"):
        load_schemas(tmp_path, {"gone": "gone.json"})
    registry, by_type = load_schemas(tmp_path, {"bad": "bad.json"})
    assert by_type == {"bad": {"$id": "https://x.example/bad.json"}}
    assert registry.contents("https://x.example/bad.json") == by_type["bad"]


def test_validator_for_an_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"no schema for message type 'x'; known: completed, "):
        validator_for("x")
    assert set(SCHEMA_FILES) >= {"digits.train.v1"}


def test_request_fields_are_checked_by_the_schema_s_own_bounds() -> None:
    assert request_field_problems({"epochs": 100, "lr": 1.0, "model_id": "m.1"}) == []
    assert request_field_problems({"epochs": 0, "lr": 2.0, "model_id": "../up"}) == [
        "epochs: 0 is less than the minimum of 1",
        "lr: 2.0 is greater than the maximum of 1",
        "model_id: '../up' does not match '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(?!\\\\n)$'",
    ]
    assert request_field_problems({"lr": float("nan")}) == [
        "lr: nan is not a finite number; JSON numbers must fit in a 64-bit float (no NaN, no "
        "Infinity, nothing beyond about 1.8e308)"
    ]
    assert request_field_problems({"momentum": 0.9}) == [
        "$: Additional properties are not allowed ('momentum' was unexpected)"
    ]


def test_numeric_bounds_in_words_come_from_the_schema() -> None:
    assert numeric_bounds("digits.train.v1") == (
        "epochs 1..100, batch_size 1..2048, 0 < lr <= 1, seed 0..4294967295"
    )
