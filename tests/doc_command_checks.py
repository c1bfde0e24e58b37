"""Whether each command a document names (``doc_commands.extract``) is real, without running it.

- ``make [VAR=value] target``: the target is one of the Makefile's (``*`` a glob that must match
  one), the Makefile reads each ``VAR`` as ``$(VAR)``, and ``make -n`` of every named target
  succeeds;
- ``npm run S`` / ``npm start`` / ``npm test``: ``S`` is a script of ``typescript/package.json``;
  options after ``npm start --`` appear in the bot's ``--help``; ``ci``, ``install`` and ``prune``
  are npm's own; what follows ``--`` for other scripts (file names) is not checked;
- ``python -m M [SUB] [--option ...]``: ``python -m M SUB --help`` exits 0 with argparse's usage
  and names every ``--option`` (``--[no-]x`` is ``--x`` and ``--no-x``); ``[...]`` marks optional
  words; ``<...>``, ``...`` and words after the first option are placeholders or values;
- ``cd DIR``: the folder exists.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

from tests.doc_commands import Command
from tests.doc_repository import Repository

NPM_OWN = frozenset({"ci", "install", "prune"})
PYTHONS = frozenset({"python", "python3", ".venv/bin/python"})


@dataclass(frozen=True)
class Probe:
    """A ``--help`` to read (``bot``: of the bot's build) and the options it must name."""

    argv: tuple[str, ...]
    options: tuple[str, ...]
    bot: bool = False


def clean(words: Iterable[str]) -> list[str]:
    """``words`` without optional-marking brackets, ``...`` and ``<placeholders>``."""
    kept = []
    for written in words:
        word = written.strip("[]")
        if word and word != "..." and not (word.startswith("<") and word.endswith(">")):
            kept.append(word.removesuffix("..."))
    return kept


def _options(words: Iterable[str]) -> tuple[str, ...]:
    found: list[str] = []
    for word in words:
        if word.startswith("--") and len(word) > 2:
            name = word.split("=", 1)[0]
            found += [name.replace("[no-]", ""), name.replace("[no-]", "no-")]
    return tuple(dict.fromkeys(found))


def probe(command: Command) -> Probe | None:
    """The ``--help`` that shows whether ``command``'s words are real, where one does."""
    argv = command.argv
    words = clean(argv)
    if argv[0] == "npm" and words[1:2] == ["start"] and "--" in words:
        options = _options(words[words.index("--") + 1 :])
        return Probe(("node", "dist/main.js"), options, bot=True) if options else None
    if argv[0] not in PYTHONS or argv[1:2] != ("-m",) or len(argv) < 3:
        return None
    head: tuple[str, ...] = (argv[2],)
    sub = clean(argv[3:4])
    if sub and not sub[0].startswith("-"):
        head = (argv[2], sub[0])
    return Probe(head, _options(clean(argv[3:])))


def _make(command: Command, repo: Repository) -> list[str]:
    found = []
    for word in clean(command.argv[1:]):
        name = word.split("=", 1)[0]
        if word.startswith("-"):
            continue
        if "=" in word and f"$({name})" not in repo.makefile:
            found.append(f"the Makefile does not read {name} (no $({name}) in it)")
        elif "=" not in word and not fnmatch.filter(repo.targets, word):
            found.append(f"no target {word!r} in the Makefile (`make help` lists them)")
    return found


def _npm(command: Command, repo: Repository) -> list[str]:
    words = [w for w in clean(command.argv[1:]) if not w.startswith("-")]
    verb = words[0] if words else ""
    if verb in NPM_OWN:
        return []
    script = words[1] if verb in {"run", "run-script"} and len(words) > 1 else verb
    if verb not in {"run", "run-script", "start", "test"}:
        return [f"npm {verb!r}: neither npm run/start/test nor one of {sorted(NPM_OWN)}"]
    if script not in repo.scripts:
        return [f"no script {script!r} in typescript/package.json (has {sorted(repo.scripts)})"]
    return []


def _help(p: Probe, repo: Repository) -> list[str]:
    code, text = repo.helps[p.argv, p.bot]
    shown = " ".join(p.argv if p.bot else ("python", "-m", *p.argv))
    if code != 0 or not re.search(r"^usage:", text, re.I | re.M):
        return [f"`{shown} --help` exits {code} without a usage: {text.strip()[-300:]}"]
    return [
        f"{option} is not an option of `{shown}` (not in its --help)"
        for option in p.options
        if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text)
    ]


def problems(commands: list[Command], repo: Repository) -> list[str]:
    """One line per wrong command: where it is, the command, and what is wrong with it."""
    probes = {command: probe(command) for command in commands}
    repo.run_helps((p.argv, p.bot) for p in probes.values() if p is not None)
    found: list[str] = []
    targets: set[str] = set()
    for command in commands:
        launcher, p = command.argv[0], probes[command]
        if launcher == "make":
            mine = _make(command, repo)
            for word in clean(command.argv[1:]):
                targets.update(fnmatch.filter(repo.targets, word))
        elif launcher == "npm":
            mine = _npm(command, repo)
        elif launcher == "cd":
            folder = clean(command.argv[1:2])
            mine = [] if folder and (repo.root / folder[0]).is_dir() else ["no such folder"]
        elif p is None:
            mine = ["only `python -m MODULE ...` can be checked: name the module"]
        else:
            mine = []
        mine += _help(p, repo) if p is not None else []
        found += [f"{command.where}: `{command.text}`: {problem}" for problem in mine]
    return found + repo.make_dry_run(sorted(targets))
