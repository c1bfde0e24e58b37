"""The regular-expression syntax a schema ``pattern`` may use: what Python and JS read alike.

Python's ``jsonschema`` matches a ``pattern`` with ``re.search``; the bot's zod with a JS
``RegExp`` (flag ``u``). Many constructs mean different things in the two: ``\\d`` and ``\\w``
match non-ASCII digits and letters in Python only, ``.`` also refuses ``\\r`` and U+2028 in
JS, ``$`` matches before a trailing newline in Python only, ``{,3}`` and inline flags are
Python only. So a pattern is checked against a whitelist, and anything else is refused with
the construct and the way to write it:

- literal characters (a metacharacter escaped: ``\\.`` ``\\(`` ``\\\\`` ...; ``\\n``, ``\\r``,
  ``\\t``, ``\\uXXXX``),
- classes ``[...]``/``[^...]`` of literals and ranges within ``0-9``, ``A-Z`` or ``a-z``,
- groups ``( )`` and ``(?: )``, alternation ``|``,
- quantifiers ``* + ? {n} {n,} {n,m}``, each optionally lazy (``?``),
- ``^`` at the very start, and at the very end ``(?!\\n)$`` (Python's ``$`` alone would
  accept a trailing newline).
"""

from __future__ import annotations

import re

END_ANCHOR = "(?!\\n)$"
_SYNTAX = set("^$\\.*+?()[]{}|/")  # what JS (flag u) lets you escape outside a class
_CLASS_ESCAPES = _SYNTAX | {"-"}
_RANGES = (("0", "9"), ("A", "Z"), ("a", "z"))
_CONTROL_ESCAPES = {"n", "r", "t"}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_COUNT = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")


class PatternError(ValueError):
    """A construct outside the whitelist: the message names it and says what to write."""


def _literal(char: str, construct: str) -> None:
    if not char.isprintable():
        raise PatternError(f"{construct} (a control or invisible character): escape it as \\uXXXX")


def _escape(pattern: str, at: int, end: int, allowed: set[str]) -> int:
    """Checks the escape at ``at``; the index after it."""
    char = pattern[at + 1 : min(at + 2, end)]
    if char in allowed or char in _CONTROL_ESCAPES:
        return at + 2
    if char == "u" and _HEX4.fullmatch(pattern[at + 2 : min(at + 6, end)]):
        return at + 6
    hint = {"d": "[0-9]", "w": "[A-Za-z0-9_]", "s": "a class of the spaces you mean"}
    fix = hint.get(char, "a class, an escaped metacharacter, \\n, \\r, \\t or \\uXXXX")
    raise PatternError(f"\\{char} (read differently by Python and JS, or not at all): write {fix}")


def _class(pattern: str, at: int, end: int) -> int:
    """Checks the class that opens at ``at``; the index after its ``]``."""
    i = at + 1 + (pattern[at + 1 : at + 2] == "^")
    if pattern[i : i + 1] == "]":
        raise PatternError("[] or []...] (an empty class in JS, a literal ] in Python): escape ]")
    while i < end and pattern[i] != "]":
        if pattern[i] == "\\":
            i = _escape(pattern, i, end, _CLASS_ESCAPES)
            continue
        pair = pattern[i : i + 2]
        if pattern[i] == "[" or pair in ("&&", "||", "~~", "--"):
            shown = "[" if pattern[i] == "[" else pair
            raise PatternError(f"{shown} in a class (a set operation in Python or JS): escape it")
        _literal(pattern[i], f"{pattern[i]!r} in a class")
        if pattern[i + 1 : i + 2] == "-" and pattern[i + 2 : i + 3] not in ("]", ""):
            low, high = pattern[i], pattern[i + 2]
            if not any(a <= low <= high <= b for a, b in _RANGES):
                raise PatternError(
                    f"range {low}-{high}: ranges must lie within 0-9, A-Z or a-z; "
                    "list other characters one by one"
                )
            i += 3
            continue
        i += 1
    if i >= end:
        raise PatternError("an unterminated class [: close it with ]")
    return i + 1


def _quantifier(pattern: str, at: int, end: int, atom: bool) -> int:
    """Checks the quantifier at ``at``; the index after it (and its lazy ``?``)."""
    if not atom:
        raise PatternError(f"{pattern[at]} with nothing to repeat: escape it")
    if pattern[at] == "{":
        count = _COUNT.match(pattern, at, end)
        if count is None:
            raise PatternError("{ that is not {n}, {n,} or {n,m}: escape it as \\{")
        if count.group(3) and int(count.group(3)) < int(count.group(1)):
            raise PatternError(f"{count.group(0)} (a maximum below the minimum): swap them")
        i = count.end()
    else:
        i = at + 1
    if pattern[i : i + 1] == "?":
        i += 1
    if pattern[i : i + 1] in ("*", "+", "?", "{"):
        raise PatternError(f"{pattern[at : i + 1]} (a quantifier on a quantifier): use a group")
    return i


def check_pattern(pattern: str) -> None:
    """Refuses, with a ``PatternError``, anything Python and JS may read differently."""
    i = 1 if pattern.startswith("^") else 0
    end = len(pattern) - len(END_ANCHOR) if pattern.endswith(END_ANCHOR) else len(pattern)
    depth = 0
    atom = False  # whether the last thing may take a quantifier
    while i < end:
        char = pattern[i]
        if char == "\\":
            i, atom = _escape(pattern, i, end, _SYNTAX), True
        elif char == "[":
            i, atom = _class(pattern, i, end), True
        elif pattern.startswith("(?:", i):
            i, atom, depth = i + 3, False, depth + 1
        elif pattern.startswith("(?", i):
            raise PatternError(
                f"{pattern[i : i + 3]}... (lookarounds, named groups and inline flags differ): "
                f"use ( ) or (?: ) groups; end the pattern with {END_ANCHOR}"
            )
        elif char == "(":
            i, atom, depth = i + 1, False, depth + 1
        elif char == ")":
            if depth == 0:
                raise PatternError(") without (: escape it as \\)")
            i, atom, depth = i + 1, True, depth - 1
        elif char == "|":
            i, atom = i + 1, False
        elif char in "*+?{":
            i, atom = _quantifier(pattern, i, end, atom), False
        elif char == "$":
            raise PatternError(
                f"$ (Python's also matches before a final newline): end with {END_ANCHOR}"
            )
        elif char == "^":
            raise PatternError("^ not at the start: anchor only the whole pattern, or escape it")
        elif char == ".":
            raise PatternError(". (JS's also refuses \\r and U+2028): write a class such as [^\\n]")
        elif char in "]}":
            raise PatternError(f"a bare {char}: escape it as \\{char}")
        else:
            _literal(char, repr(char))
            i, atom = i + 1, True
    if depth:
        raise PatternError("an unclosed group (: close it with )")
