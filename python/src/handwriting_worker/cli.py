"""``python -m handwriting_worker COMMAND``: one entry point, one subcommand per task.

Add a command with a ``_add_<name>`` function that registers its parser and a handler in
``_HANDLERS``. With no command, help is printed (exit 2); ``worker`` becomes the default once
it exists.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from handwriting_ai.settings import DEFAULT_REDIS_URL, SettingsError, load_settings, redact_url
from handwriting_worker.tail import run_tail

Handler = Callable[[argparse.Namespace], int]


def _tail(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"tail: {exc}", file=sys.stderr)
        return 2
    url = settings.redis_url_value()
    count: object = args.count
    try:
        return run_tail(
            url,
            settings.digits_events_channel,
            sys.stdout,
            sys.stderr,
            raw=bool(args.json),
            count=count if isinstance(count, int) else None,
        )
    except KeyboardInterrupt:
        return 0
    except ValueError as exc:  # REDIS_URL redis-py cannot use
        print(f"tail: REDIS_URL {redact_url(url)!r}: {exc}", file=sys.stderr)
        return 2


def _add_tail(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "tail",
        help="print the training events on the channel, one line each",
        description=(
            "Subscribes to DIGITS_EVENTS_CHANNEL (default digits:events) at REDIS_URL "
            f"(default {DEFAULT_REDIS_URL} when unset) and prints each event as one line: "
            "time, type, request, run and the event's own fields. An invalid message is "
            "printed as INVALID with the reason, and the tail goes on."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print each message's raw JSON")
    parser.add_argument(
        "--count", type=int, metavar="N", help="exit after N messages (default: run until Ctrl-C)"
    )


_HANDLERS: dict[str, Handler] = {"tail": _tail}


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m handwriting_worker",
        description="Digits training: the worker and its tools.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_tail(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one subcommand; the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: object = args.command
    if not isinstance(command, str):
        parser.print_help(sys.stderr)
        return 2
    return _HANDLERS[command](args)
