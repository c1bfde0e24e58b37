"""Property: any message valid against its schema survives encode -> decode unchanged.

Messages are drawn from the schemas themselves: the flattened form the compatibility lock
computes ($refs inlined, allOf merged), interpreted by a small strategy builder for the
JSON Schema subset we use. (hypothesis-jsonschema 0.23 no longer runs on current Hypothesis.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.compat import current_entries
from codegen.json_types import JsonObject, JsonValue, as_list, as_object
from codegen.schema_index import SCHEMAS_DIR
from handwriting_ai.contracts import DIGITS_EVENT_V1_TYPES, LEGACY_EVENT_TYPES
from handwriting_ai.events.builders import utc_timestamp
from handwriting_ai.events.codec import decode_event, encode_event, validate_request

ENTRIES = current_entries(SCHEMAS_DIR)

_timestamps = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)
).map(utc_timestamp)


def _num(schema: JsonObject, key: str) -> int | float | None:
    value = schema.get(key)  # ints stay ints: 2**63 - 1 does not survive a float
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _value(schema: JsonObject) -> st.SearchStrategy[JsonValue]:
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(as_list(schema["enum"], "enum"))
    types = [t for t in as_list(schema.get("type"), "type") if t != "null"]
    nullable = "null" in as_list(schema.get("type"), "type")
    assert len(types) == 1, schema
    kind = types[0]
    strategy: st.SearchStrategy[JsonValue]
    if kind == "string" and schema.get("format") == "date-time":
        strategy = _timestamps
    elif kind == "string":
        lo = int(_num(schema, "minLength") or 0)
        hi = _num(schema, "maxLength")
        pattern = schema.get("pattern")
        base = (
            st.from_regex(pattern, fullmatch=True)
            if isinstance(pattern, str)
            else st.text(min_size=lo, max_size=int(hi) if hi is not None else 40)
        )
        strategy = base.filter(lambda s: lo <= len(s) <= (hi if hi is not None else 10**9))
    elif kind == "integer":
        low = _num(schema, "minimum")
        high = _num(schema, "maximum")
        strategy = st.integers(
            min_value=None if low is None else int(low),
            max_value=None if high is None else int(high),
        )
    elif kind == "number":
        exclusive_lo = _num(schema, "exclusiveMinimum")
        strategy = st.floats(
            min_value=_num(schema, "minimum") if exclusive_lo is None else exclusive_lo,
            max_value=_num(schema, "maximum"),
            exclude_min=exclusive_lo is not None,
            allow_nan=False,
            allow_infinity=False,
        )
    else:
        assert kind == "boolean", schema
        strategy = st.booleans()
    return st.one_of(st.none(), strategy) if nullable else strategy


def _messages(type_name: str) -> st.SearchStrategy[dict[str, JsonValue]]:
    schema = ENTRIES[type_name].schema
    props = as_object(schema["properties"], "properties")
    return st.fixed_dictionaries(
        {name: _value(as_object(sub, name)) for name, sub in props.items()}
    )


@pytest.mark.parametrize("type_name", DIGITS_EVENT_V1_TYPES + LEGACY_EVENT_TYPES)
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_events_round_trip(type_name: str, data: st.DataObject) -> None:
    message = data.draw(_messages(type_name))
    decoded = decode_event(json.dumps(message))
    assert decoded == message
    assert decode_event(encode_event(decoded)) == message


@settings(max_examples=100, deadline=None)
@given(request=_messages("digits.train.v1"))
def test_requests_validate(request: dict[str, JsonValue]) -> None:
    assert validate_request(json.loads(json.dumps(request))) == request
