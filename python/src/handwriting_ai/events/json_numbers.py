"""JSON numbers read the same way here as in the bot (typescript/src/events/decode.ts).

The rule both sides follow, checked by the shared vectors in ``tests/vectors/``:

- A number written as a plain integer (``42``, ``-7``) is that integer, exactly, however many
  digits it has (a 64-bit ``user_id`` keeps every digit).
- Any other number (a fraction or an exponent: ``2.0``, ``1e3``, ``0.10000000000000001``) is
  the double it parses to (``0.1`` for the last one), as every JSON reader makes it.
- A number beyond a double's range (``1e400``, a 400-digit integer) and NaN or Infinity (not
  JSON at all, but Python's ``json`` and ``float()`` make them) are refused, naming the field.
- After validation, a whole-number float in an ``integer`` field (``epochs: 2.0`` from a
  producer that only has floats) becomes an ``int``: JSON Schema counts it as an integer,
  and the trainer needs one. ``number`` fields keep their floats, so events round-trip.

Text nested deeper than ``MAX_DEPTH`` is refused before it is parsed (``TooDeep``): Python's
parser and everything that walks the result recurse once per level, and a few thousand ``[``
in a stream entry would end in a ``RecursionError`` that no reader expects. No message of
the contract is nested more than two levels.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping

_SHORT_INT_DIGITS = 300  # any integer this short is far inside a double's range
_SHOWN = 40  # characters of a refused number quoted in the error
MAX_DEPTH = 32
_TOKEN = re.compile(r'\\.|["\[\]{}]', re.DOTALL)  # an escape pair, a quote or a bracket


class NonFiniteNumber(ValueError):
    """A number that no double holds (out of range, NaN or Infinity)."""


class TooDeep(ValueError):
    """JSON text nested deeper than ``MAX_DEPTH`` levels."""


def check_depth(text: str) -> None:
    """``TooDeep`` when ``text`` nests arrays or objects deeper than ``MAX_DEPTH``."""
    depth = 0
    in_string = False
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif in_string or token[0] == "\\":
            continue
        elif token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise TooDeep(f"$: nested deeper than {MAX_DEPTH} levels, which no message is")
        else:
            depth -= 1


class _Marker:
    """Stands for a refused number while the parse is repeated to find where it is."""

    def __init__(self, text: str) -> None:
        self.text = text


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(text)
    return value


def _parse_int(text: str) -> int:
    if len(text) > _SHORT_INT_DIGITS and not math.isfinite(float(text)):
        raise NonFiniteNumber(text)
    return int(text)


def _refuse_constant(name: str) -> float:
    raise NonFiniteNumber(name)


def _mark_float(text: str) -> object:
    try:
        return _parse_float(text)
    except NonFiniteNumber:
        return _Marker(text)


def _mark_int(text: str) -> object:
    try:
        return _parse_int(text)
    except NonFiniteNumber:
        return _Marker(text)


def _walk(value: object, path: str) -> Iterator[tuple[str, object]]:
    yield path, value
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _problem(path: str, text: str) -> str:
    shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "..."  # a hostile 1 MB number
    return (
        f"{path}: {shown} is not a finite number; JSON numbers must fit in a 64-bit float "
        "(no NaN, no Infinity, nothing beyond about 1.8e308)"
    )


def loads(text: str) -> object:
    """Parses JSON text by the rule above; ``NonFiniteNumber`` names the field it refuses,
    ``TooDeep`` refuses what nests too deep."""
    check_depth(text)
    try:
        return json.loads(
            text, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_refuse_constant
        )
    except NonFiniteNumber as exc:
        # Parse again, keeping refused numbers as markers, to say where the first one is.
        marked: object = json.loads(
            text, parse_float=_mark_float, parse_int=_mark_int, parse_constant=_Marker
        )
        where = next(
            (path, item.text) for path, item in _walk(marked, "$") if isinstance(item, _Marker)
        )
        raise NonFiniteNumber(_problem(*where)) from exc


def check_finite(value: object) -> None:
    """Refuses a NaN or infinite float anywhere in ``value`` (an object not parsed by us)."""
    for path, item in _walk(value, "$"):
        if isinstance(item, float) and not math.isfinite(item):
            raise NonFiniteNumber(_problem(path, repr(item)))


def whole_floats_to_int(value: Mapping[str, object], fields: frozenset[str]) -> dict[str, object]:
    """``value`` with each whole-number float among ``fields`` as an ``int`` (2.0 -> 2)."""
    return {
        key: int(item) if key in fields and isinstance(item, float) and item.is_integer() else item
        for key, item in value.items()
    }
