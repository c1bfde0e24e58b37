"""The commands a Markdown document names, found by one written rule (see ``extract``).

Issue 27 asks that every command in README.md be real and tested. This module finds them;
``doc_command_checks`` says whether each is real. What counts as a command:

- a line of a code block (indented by 4+ spaces, or fenced; ``mermaid`` blocks skipped), or an
  inline code span (which may wrap lines), whose first word, after ``NAME=value`` environment
  prefixes, is a launcher: ``make``, ``npm``, ``cd``, ``python``/``python3``/``.venv/bin/python``;
- an inline code span that is a ``handwriting_worker`` subcommand followed by an option, such as
  ``tail --replay``: it is read as ``python -m handwriting_worker tail --replay``.

``&&``, ``;`` and ``|`` split a line into several commands; ``# ...`` ends one. Anything else
(``redis-cli``, ``pip``, ``systemctl``, ``git``, output, prose) is not this project's to check.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

LAUNCHERS = frozenset({"make", "npm", "cd", "python", "python3", ".venv/bin/python"})
# `python -m handwriting_worker --help` lists these; test_readme_commands keeps them equal.
WORKER_COMMANDS = frozenset(
    {"worker", "enqueue", "intake", "train", "tail", "evaluate", "predict", "predict-worker"}
)
_ENV_PREFIX = re.compile(r"^[A-Z][A-Z0-9_]*=")
_SEPARATOR = re.compile(r"\s*(?:&&|\|\||;|\|)\s*")
_FENCE = re.compile(r"^\s*(```|~~~)\s*([\w-]*)")
_SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)")


@dataclass(frozen=True)
class Command:
    """One command as a document writes it: where, the text, and its words."""

    where: str
    text: str
    argv: tuple[str, ...]


def _words(text: str) -> list[str]:
    try:
        words = shlex.split(text, comments=True)
    except ValueError:  # an apostrophe in a trailing comment
        words = text.split("#", 1)[0].split()
    while words and _ENV_PREFIX.match(words[0]):
        words.pop(0)
    return words


def _commands(where: str, text: str, inline: bool) -> list[Command]:
    found = []
    for part in _SEPARATOR.split(text.split(" #", 1)[0].strip()):
        words = _words(part)
        if not words:
            continue
        if words[0] not in LAUNCHERS:
            if not (inline and words[0] in WORKER_COMMANDS and words[1:2] and words[1][:2] == "--"):
                continue
            words = ["python", "-m", "handwriting_worker", *words]
        found.append(Command(where, part.strip(), tuple(words)))
    return found


def _code_lines(lines: list[str]) -> tuple[list[tuple[int, str]], list[str]]:
    """The lines of code blocks (with their numbers), and the prose with code blocks blanked."""
    code: list[tuple[int, str]] = []
    prose: list[str] = []
    fence: str | None = None
    skip = False
    blank_before = True
    in_block = False
    for number, line in enumerate(lines, start=1):
        opening = _FENCE.match(line)
        if fence is not None or opening:
            if fence is None and opening:
                fence, skip = opening.group(1), opening.group(2) == "mermaid"
            elif opening and opening.group(1) == fence:
                fence = None
            elif not skip:
                code.append((number, line))
            prose.append("")
            continue
        blank = line.strip() == ""
        in_block = ((in_block or blank_before) and line.startswith("    ")) or (in_block and blank)
        if in_block and not blank:
            code.append((number, line))
        prose.append("" if in_block else line)
        blank_before = blank
    return code, prose


def extract(name: str, text: str) -> list[Command]:
    """Every command ``text`` (the document ``name``) names, in order of its lines."""
    code, prose = _code_lines(text.splitlines())
    found = [c for number, line in code for c in _commands(f"{name}:{number}", line, False)]
    joined = "\n".join(prose)
    for span in _SPAN.finditer(joined):
        number = joined.count("\n", 0, span.start()) + 1
        found.extend(_commands(f"{name}:{number}", " ".join(span.group(1).split()), True))
    return sorted(found, key=lambda c: int(c.where.rsplit(":", 1)[1]))
