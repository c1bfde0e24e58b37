"""The pattern whitelist: what Python's re and JS's RegExp (flag u) read alike, and nothing else.

Every accepted pattern is also compiled by Python here, and the TypeScript suite compiles the
generated ones; a refused construct's message names it and says what to write instead.
"""

from __future__ import annotations

import re

import pytest

from codegen.patterns import END_ANCHOR, PatternError, check_pattern
from codegen.schema_index import SCHEMAS_DIR, load_messages, load_schema


@pytest.mark.parametrize(
    "pattern",
    [
        "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z(?!\\n)$",
        "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(?!\\n)$",
        "a|b",
        "(?:ab)+?c*d??",
        "[^\\n\\r\\t]x{2,}y{3}",
        "\\(\\)\\[\\]\\{\\}\\\\\\/\\.\\*\\+\\?\\|\\^\\$",
        "é\\u00e9",
        "[\\-\\]a-z]",
        "[-a]",
        "[a-]",
        "()",
        "",
    ],
)
def test_shared_syntax_is_accepted(pattern: str) -> None:
    check_pattern(pattern)
    re.compile(pattern)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("\\d", "\\d (read differently by Python and JS, or not at all): write [0-9]"),
        ("\\w", "\\w (read differently by Python and JS, or not at all): write [A-Za-z0-9_]"),
        ("\\s", "\\s (read differently by Python and JS, or not at all): write a class of"),
        ("\\-", "\\- (read differently"),
        ("a\\", "\\ (read differently"),
        ("\\u12", "\\u (read differently"),
        ("[\\d]", "\\d (read differently"),
        (".", ". (JS's also refuses \\r and U+2028): write a class such as [^\\n]"),
        ("a$", f"$ (Python's also matches before a final newline): end with {END_ANCHOR}"),
        ("a^", "^ not at the start"),
        ("(?i)a", "(?i... (lookarounds, named groups and inline flags differ)"),
        ("(?P<x>a)", "(?P..."),
        ("a(?!\\n)b", "(?!..."),
        ("*a", "* with nothing to repeat"),
        ("(*)", "* with nothing to repeat"),
        ("a|+", "+ with nothing to repeat"),
        ("a{,3}", "{ that is not {n}, {n,} or {n,m}: escape it as \\{"),
        ("a{", "{ that is not"),
        ("a{3,2}", "{3,2} (a maximum below the minimum)"),
        ("a**", "** (a quantifier on a quantifier)"),
        ("a*?+", "*?+ (a quantifier on a quantifier)"),
        ("a{2}{3}", "{2}{ (a quantifier on a quantifier)"),
        ("[]a]", "[] or []...]"),
        ("[^]a]", "[] or []...]"),
        ("[a-Z]", "range a-Z: ranges must lie within 0-9, A-Z or a-z"),
        ("[!-~]", "range !-~"),
        ("[[a]", "[ in a class (a set operation"),
        ("[a&&b]", "&& in a class"),
        ("[--a]", "-- in a class"),
        ("[a--]", "range a--"),
        ("[abc", "an unterminated class ["),
        ("[a" + END_ANCHOR, "an unterminated class ["),
        ("(a", "an unclosed group ("),
        ("a)", ") without ("),
        ("]", "a bare ]"),
        ("}", "a bare }"),
        ("\x01", "'\\x01' (a control or invisible character): escape it as \\uXXXX"),
        ("[\u200b]", "'\\u200b' in a class (a control or invisible character)"),
    ],
)
def test_other_syntax_is_refused_naming_the_construct_and_the_fix(
    pattern: str, message: str
) -> None:
    with pytest.raises(PatternError) as caught:
        check_pattern(pattern)
    assert str(caught.value).startswith(message)


def _patterns(value: object) -> list[str]:
    if isinstance(value, dict):
        own = [value["pattern"]] if isinstance(value.get("pattern"), str) else []
        return own + [p for item in value.values() for p in _patterns(item)]
    return []


def test_every_pattern_in_the_schemas_is_in_the_shared_syntax() -> None:
    schemas = [load_schema(SCHEMAS_DIR / "common.json")] + [m.schema for m in load_messages()]
    found = [p for schema in schemas for p in _patterns(schema)]
    assert len(found) >= 2
    for pattern in found:
        check_pattern(pattern)
