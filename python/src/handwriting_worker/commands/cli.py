"""``python -m handwriting_worker COMMAND``: one entry point, one subcommand per task.

Add a command with a ``_add_<name>`` function that registers its parser and a handler in
``_HANDLERS``. With no command, ``worker`` runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from handwriting_ai.archs import parse_arch
from handwriting_ai.settings import DEFAULT_REDIS_URL, SettingsError, load_settings, redact_url
from handwriting_worker.commands import evaluate, predict
from handwriting_worker.commands.replay import parse_since
from handwriting_worker.commands.request_options import (
    add_arch_option,
    add_request_options,
    request_from_args,
)

# Each handler imports what only it needs (rq, httpx, torch...): `--help`, `tail`, `intake` and
# `enqueue` start in a fraction of a second and tens of MB (tests/test_cli_light.py,
# bench/light_commands.py); the worker loads torch once before forking its work horses.

Handler = Callable[[argparse.Namespace], int]


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM, whatever disposition this process inherited (a
    process started from a background job inherits SIGINT ignored); restored after."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _tail(args: argparse.Namespace) -> int:
    from handwriting_worker.commands.replay import run_replay  # noqa: PLC0415
    from handwriting_worker.commands.tail import run_tail  # noqa: PLC0415

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"tail: {exc}", file=sys.stderr)
        return 2
    url = settings.redis_url_value()
    count: object = args.count
    request_id: object = args.request_id
    since: object = args.since
    try:
        with _stop_on_signals() as stop:
            if args.replay or since is not None:
                return run_replay(
                    url,
                    settings.digits_events_stream,
                    sys.stdout,
                    sys.stderr,
                    raw=bool(args.json),
                    request_id=request_id if isinstance(request_id, str) else None,
                    since_s=since if isinstance(since, float) else None,
                    count=count if isinstance(count, int) else None,
                    stop=stop,
                )
            return run_tail(
                url,
                settings.digits_events_channel,
                sys.stdout,
                sys.stderr,
                raw=bool(args.json),
                count=count if isinstance(count, int) else None,
                stop=stop,
                request_id=request_id if isinstance(request_id, str) else None,
            )
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
            "printed as INVALID with the reason, and the tail goes on. With --replay it "
            "reads the event log DIGITS_EVENTS_STREAM (default digits:events:log) instead: "
            "the history first, then what follows, live."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print each message's raw JSON")
    parser.add_argument(
        "--count", type=int, metavar="N", help="exit after N messages (default: run until Ctrl-C)"
    )
    parser.add_argument(
        "--replay", action="store_true", help="print the history from the event log, then follow"
    )
    parser.add_argument("--request-id", metavar="ID", help="only this request's events")
    parser.add_argument(
        "--since",
        type=parse_since,
        metavar="DURATION",
        help="replay the last DURATION only (90s, 10m, 2h, 1d); implies --replay",
    )


def _worker(args: argparse.Namespace) -> int:
    # torch once, here: each job's work horse is forked from this process and inherits it (the
    # light commands never load it; tests/test_cli_light.py).
    for heavy in ("handwriting_ai.training", "handwriting_worker.training.upload"):
        importlib.import_module(heavy)
    from handwriting_worker.rq.queue_commands import RedisUnreachable, run_worker  # noqa: PLC0415

    try:
        run_worker(load_settings(), burst=bool(getattr(args, "burst", False)))
    except (SettingsError, RedisUnreachable) as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 1
    return 0


def _add_worker(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "worker",
        help="run training jobs from the queue (the default command)",
        description=(
            "An RQ worker on the queue RQ__QUEUE (default digits) at REDIS_URL "
            f"(default {DEFAULT_REDIS_URL}). Start as many as you like, on any machines: "
            "they share the queue, and each job runs in its own process."
        ),
    )
    parser.add_argument(
        "--burst", action="store_true", help="exit once the queue is empty (for scripts and tests)"
    )


def _intake(args: argparse.Namespace) -> int:
    from handwriting_worker.requests.intake import READ_TIMEOUT_S, Intake  # noqa: PLC0415
    from handwriting_worker.rq.queue_commands import RedisUnreachable, connect  # noqa: PLC0415
    from handwriting_worker.rq.rq_worker import setup_logging  # noqa: PLC0415

    try:
        settings = load_settings()
        connection = connect(settings, read_timeout_s=READ_TIMEOUT_S)
    except (SettingsError, RedisUnreachable) as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 1
    setup_logging()
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    with _stop_on_signals() as stop:
        Intake(settings, connection, consumer).run(stop)
    return 0


def _add_intake(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(
        "intake",
        help="move requests from Discord (/train, Cancel) into the queue",
        description=(
            "Reads DIGITS_REQUESTS_STREAM (default digits:requests) at REDIS_URL as one "
            "consumer of the group INTAKE__GROUP (default intake): each /train request is "
            "validated and queued on RQ__QUEUE exactly once, each Cancel removes or stops its "
            "job. Run one or more, anywhere; an entry an intake could not finish is taken over "
            "by another after INTAKE__CLAIM_IDLE_S (default 30). SIGTERM or Ctrl-C: the entry "
            "in hand is finished, then it exits."
        ),
    )


def _enqueue(args: argparse.Namespace) -> int:
    from handwriting_ai.events.codec import RequestValidationError  # noqa: PLC0415
    from handwriting_worker.rq.queue_commands import (  # noqa: PLC0415
        AlreadyQueued,
        RedisUnreachable,
        enqueue_request,
    )

    try:
        enqueue_request(load_settings(), request_from_args(args), sys.stdout)
    except RequestValidationError as exc:
        print(f"enqueue: {exc}", file=sys.stderr)
        return 2
    except (SettingsError, RedisUnreachable, AlreadyQueued) as exc:
        print(f"enqueue: {exc}", file=sys.stderr)
        return 1
    return 0


def _add_enqueue(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "enqueue",
        help="validate a training request and put it on the queue",
        description=(
            "Builds a digits.train.v1 request from the options, validates it against the "
            "schema, puts it on RQ__QUEUE with a timeout of RQ__JOB_TIMEOUT_S seconds "
            "(default 3600) and prints its request_id and job_id."
        ),
    )
    add_request_options(parser, user_required=True)


def _train(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 2
    from handwriting_worker.commands.train_command import run_train  # noqa: PLC0415 (torch)

    arch: object = args.arch  # argparse already limited it to ARCHS
    return run_train(
        settings,
        request_from_args(args),
        sys.stdout,
        sys.stderr,
        arch=parse_arch(arch) if isinstance(arch, str) else None,
        download=bool(args.download),
        json=bool(args.json),
    )


def _add_train(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "train",
        help="train one model here, without Redis or a queue",
        description=(
            "Runs one job in this process on the offline digits (DIGITS__DATA_ROOT, made by "
            "`make data`). Events go to stdout as JSON lines (on a terminal only with "
            "--json), and to Redis too when REDIS_URL is set; a progress bar and readable "
            "lines go to stderr. Exit status: 0 completed, 1 failed, 2 bad arguments."
        ),
    )
    add_request_options(parser)
    add_arch_option(parser)
    parser.add_argument(
        "--download",
        action="store_true",
        help="full MNIST, downloaded by torchvision into DIGITS__DATA_ROOT (needs network)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="JSON lines on stdout even when it is a terminal (always when it is not)",
    )


def _predict_worker(args: argparse.Namespace) -> int:
    from handwriting_worker.predicting import predict_worker  # noqa: PLC0415 (torch: loaded only here)

    return predict_worker.main()


def _add_predict_worker(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(
        "predict-worker",
        help="answer /predict from its own queue, models kept loaded",
        description=(
            "Pops digits.predict.v1 requests from PREDICT_QUEUE (digits:predict:queue) at "
            "REDIS_URL, reads each picture with the active model of its model_id "
            "(DIGITS__ARTIFACTS_ROOT/<model_id>/manifest.json; loaded once, again when the "
            "manifest changes) and pushes the result where the bot waits. Run one or more; "
            "they never wait behind training. SIGTERM or Ctrl-C: exits after the request in hand."
        ),
    )


_HANDLERS: dict[str, Handler] = {
    "tail": _tail,
    "worker": _worker,
    "enqueue": _enqueue,
    "intake": _intake,
    "train": _train,
    "evaluate": evaluate.run,
    "predict": predict.run,
    "predict-worker": _predict_worker,
}


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m handwriting_worker",
        description="Digits training: the worker and its tools.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_worker(commands)
    _add_enqueue(commands)
    _add_intake(commands)
    _add_train(commands)
    _add_tail(commands)
    evaluate.add_parser(commands)
    predict.add_parser(commands)
    _add_predict_worker(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one subcommand; the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: object = args.command
    return _HANDLERS[command if isinstance(command, str) else "worker"](args)
