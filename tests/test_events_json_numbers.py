"""JSON numbers: whole numbers exact, other numbers the nearest double, non-finite refused.

The same rule is in the bot (typescript/src/events/decode.ts); tests/vectors/ holds the cases both
suites check.
"""

from __future__ import annotations

import json
import math

import pytest

from handwriting_ai.events import builders as b
from handwriting_ai.events.codec import (
    EventDecodeError,
    RequestValidationError,
    decode_event,
    encode_event,
    validate_request,
)
from handwriting_ai.events.json_numbers import (
    NonFiniteNumber,
    check_finite,
    loads,
    whole_floats_to_int,
)
from handwriting_ai.events.schemas import integer_fields

CTX = b.JobContext("req-1", 2**63 - 1, "model-a", "run-1")


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


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12345678901234567890123", 12345678901234567890123),  # plain integer: exact
        ("1" + "0" * 305, 10**305),
        ("2.0", 2.0),  # anything else: the double
        ("1e3", 1000.0),
        ("9223372036854775807.0", 2.0**63),
        ("0.10000000000000001", 0.1),
        ("1.7976931348623157e308", 1.7976931348623157e308),
    ],
)
def test_plain_integers_are_exact_and_other_numbers_the_double(text: str, value: object) -> None:
    parsed = loads(text)
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"lr": 1e400}', r"^\$\.lr: 1e400 is not a finite number"),
        ('{"a": [1, -1E+999]}', r"^\$\.a\[1\]: -1E\+999 is not a finite number"),
        ('{"n": 1' + "0" * 400 + "}", r"^\$\.n: 10{39}\.\.\. is not a finite number"),
        ('{"x": {"y": NaN}}', r"^\$\.x\.y: NaN is not a finite number"),
        ("-Infinity", r"^\$: -Infinity is not a finite number"),
    ],
)
def test_non_finite_numbers_are_refused_naming_the_field(text: str, where: str) -> None:
    with pytest.raises(NonFiniteNumber, match=where):
        loads(text)


def test_check_finite_finds_nan_and_infinity_in_objects() -> None:
    check_finite({"a": [1.5, 2], "b": "x"})
    with pytest.raises(NonFiniteNumber, match=r"^\$\.a\[0\]: nan is not a finite number"):
        check_finite({"a": [math.nan]})
    with pytest.raises(NonFiniteNumber, match=r"^\$\.b: -inf is not"):
        check_finite({"b": -math.inf})


def test_whole_floats_become_ints_only_in_the_fields_named() -> None:
    out = whole_floats_to_int({"a": 2.0, "b": 2.0, "c": 2.5, "d": "2"}, frozenset({"a", "c", "d"}))
    assert out == {"a": 2, "b": 2.0, "c": 2.5, "d": "2"}
    assert type(out["a"]) is int
    assert type(out["b"]) is float


def test_integer_fields_follow_refs_and_the_base() -> None:
    assert integer_fields("digits.train.v1") == {"user_id", "epochs", "batch_size", "seed"}
    assert integer_fields("digits.train.epoch.v1") == {"user_id", "epoch", "total_epochs"}


def test_a_request_with_whole_number_floats_gets_ints() -> None:
    # A producer that only has floats writes epochs 2.0; the trainer needs the int 2.
    request = validate_request(_request(epochs=2.0, batch_size=64.0, seed=7.0, lr=1.0))
    assert request == _request(epochs=2, batch_size=64, seed=7, lr=1.0)
    assert [type(request[k]) for k in ("epochs", "batch_size", "seed", "lr")] == [
        int,
        int,
        int,
        float,  # lr is a number: left as it came
    ]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_lr_is_refused_naming_the_field(bad: float) -> None:
    # NaN passes every bound check (NaN > 0 and NaN <= 1 are both false): refused first.
    with pytest.raises(RequestValidationError, match=r"request: \$\.lr: -?(nan|inf) is not a fin"):
        validate_request(_request(lr=bad))


def test_validate_request_still_refuses_a_non_object() -> None:
    with pytest.raises(RequestValidationError, match=r"\$: \[\] is not of type 'object'"):
        validate_request([])


def test_decode_event_refuses_an_infinite_number_naming_the_field() -> None:
    event = json.loads(encode_event(b.best(CTX, epoch=1, val_acc=0.5)))
    text = json.dumps(event).replace('"val_acc": 0.5', '"val_acc": 1e400')
    with pytest.raises(EventDecodeError, match=r"^\$\.val_acc: 1e400 is not a finite number"):
        decode_event(text)
    with pytest.raises(EventDecodeError, match=r"^\$: not valid JSON"):
        decode_event("{")


def test_decode_event_reads_whole_floats_as_ints_and_17_digit_doubles() -> None:
    event = json.loads(encode_event(b.best(CTX, epoch=1, val_acc=0.5)))
    text = json.dumps(event).replace('"epoch": 1', '"epoch": 1.00000000000000001')
    text = text.replace('"val_acc": 0.5', '"val_acc": 0.10000000000000001')
    decoded = dict(decode_event(text))
    assert decoded == {**event, "val_acc": 0.1}
    assert type(decoded["epoch"]) is int
