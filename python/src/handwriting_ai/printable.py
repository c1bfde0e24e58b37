"""Text from outside made safe to print on a terminal or into a log: ``printable``.

Event fields (``request_id``, ``model_id``, messages) and stream entries are written by
whoever can write to Redis. Printed raw, an ESC sequence rewrites the operator's terminal
(OSC 52 even sets their clipboard), a CR or a newline forges a line, and a C1 control (CSI is
U+009B) does what ESC does on many terminals. ``printable`` is the one function everything we
print or log goes through (``tail``, the intake's and the worker's logs via
``SafeFormatter``): each control character, line or paragraph separator and bidirectional
override is written as its escape (``\\x1b``, ``\\r``, ``\\u202e``), so the text stays readable
and nothing in it acts on the terminal.
"""

from __future__ import annotations

import logging
import re

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\u2028\u2029{_BIDI}]")
_UNSAFE_KEEP_NEWLINES = re.compile(f"[\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f\u2028\u2029{_BIDI}]")


_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    named = _NAMED.get(char)
    if named is not None:
        return named
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character escaped (newlines kept when asked: tracebacks)."""
    pattern = _UNSAFE_KEEP_NEWLINES if keep_newlines else _UNSAFE
    return pattern.sub(_escape, text)


class SafeFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose lines carry no control characters (see ``printable``).

    The message, with its arguments, is escaped whole, so one record is one line; a traceback
    keeps its own newlines, and only those.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return printable(super().formatException(ei), keep_newlines=True)

    def formatStack(self, stack_info: str) -> str:
        return printable(super().formatStack(stack_info), keep_newlines=True)
