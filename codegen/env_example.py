"""``make codegen``: the Python part of ``deploy/digits.env.example``, from the pydantic settings.

    python -m codegen.env_example           # rewrite the part in place
    python -m codegen.env_example --check   # fail when it differs

Every field of ``handwriting_ai.settings.Settings`` becomes its docstring (which starts with the
variable's name) and a commented ``NAME=default`` line. The file's bot part, from
``## Discord bot (TypeScript)`` on, is written by the bot's own schema (``npm run env-example``).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

from pydantic import BaseModel

from codegen.schema_index import REPO_ROOT
from handwriting_ai import defaults
from handwriting_ai.settings import Settings

EXAMPLE = Path("deploy/digits.env.example")
BOT_TITLE = "## Discord bot (TypeScript)"
HEADER = """\
# Every setting of digits training events, with its default. Copy to /etc/digits/digits.env
# (mode 0600: it holds secrets), uncomment and change what you need; the systemd units in
# deploy/systemd read it. Written by `make codegen` from the settings' one home on each side:
# python/src/handwriting_ai/settings.py (this part) and the bot's
# typescript/src/shared/settings_schema.ts (its part, also its `npm start -- --help`);
# `make check-drift` fails when this file differs.

## Worker and tools (Python)
"""

RECOMMENDED: dict[str, tuple[str, str]] = {
    "EVENTS__BATCH_EVERY": (
        "0",
        "Off while a rollout mixes old and new workers and bots (docs/rollout.md): batch events "
        "are most of the traffic, and a worker of an earlier release gets each one appended to "
        "the log twice. Then enable them gradually: set "
        f"{defaults.BATCH_EVERY} on one worker, watch the bots' stats lines (edits, errors) and "
        "Redis memory (INFO memory: each batch event is a log entry), then on the rest.",
    ),
}
"""Deployment advice: a value the example sets (uncommented) instead of the default, and why."""


WIDTH = 100
"""Comment lines are wrapped at this many characters."""


class EnvExampleError(Exception):
    """A setting the example cannot describe; the message names it and the fix."""


def _value(default: object) -> str:
    if default is None or default == {}:
        return ""
    if isinstance(default, bool):
        return str(default).lower()
    return json.dumps(default) if isinstance(default, dict) else str(default)


def _fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """(variable, description, default) of every leaf field, in the model's order."""
    for field, info in model.model_fields.items():
        name = prefix + field.upper()
        inner = info.annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            yield from _fields(inner, f"{name}__")
            continue
        said, _, text = (info.description or "").partition(": ")
        if said != name or not text:
            raise EnvExampleError(
                f"{name}: its docstring must start with '{name}: ' and say what it does"
            )
        yield name, " ".join(text.split()), _value(info.default)


def python_part(model: type[BaseModel] = Settings) -> str:
    """Everything of the example file above the bot's part."""
    lines = [HEADER.rstrip("\n")]
    for name, text, default in _fields(model):
        value, advice = RECOMMENDED.get(name, (None, ""))
        lines += textwrap.wrap(
            f"{text} {advice}", WIDTH, initial_indent="# ", subsequent_indent="# "
        )
        lines.append(f"#{name}={default}" if value is None else f"{name}={value}")
    return "\n".join(lines) + "\n\n"


def fresh(current: str, model: type[BaseModel] = Settings) -> str:
    """``current`` with its Python part regenerated (the bot's part kept as it is)."""
    at = current.find(BOT_TITLE)
    return python_part(model) + (current[at:] if at >= 0 else f"{BOT_TITLE}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen.env_example", description=__doc__)
    parser.add_argument("--check", action="store_true", help="do not write; fail when it differs")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    args = parser.parse_args(argv)
    path: Path = args.root / EXAMPLE
    current = path.read_text()
    new = fresh(current)
    if args.check:
        if new != current:
            print(f"{EXAMPLE}: differs from settings.py; run `make codegen`", file=sys.stderr)
            return 1
        print(f"check-drift: {EXAMPLE} matches settings.py")
        return 0
    path.write_text(new)
    print(f"wrote {EXAMPLE}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
