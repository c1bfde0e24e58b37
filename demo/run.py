"""The demo's steps: start, enqueue, redraw the bot's dry-run message, show one prediction by
the model the job made, stop everything."""

from __future__ import annotations

import argparse
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import IO, TextIO

from redis import Redis
from redis.exceptions import RedisError, ResponseError

from demo.bot_build import ensure_bot_built
from demo.predict import predict_one
from demo.processes import Child, kill_marked, start_redis

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EPOCHS = 2
DEADLINE_S = 600.0
MODEL_ID = "digits"  # enqueue's default
HEADER = re.compile(r"^--- (new message|edit) (\S+) in \S+( replying to \S+)?$")
FINAL = re.compile(r"^## Training (completed|failed|cancelled)", re.M)


class Stop(Exception):
    """Ctrl-C or SIGTERM: stop everything and leave."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def _lines(stream: IO[str], out: queue.Queue[str | None]) -> None:
    try:
        for line in stream:
            out.put(line.rstrip("\n"))
    finally:
        out.put(None)


class Screen:
    """The live message, redrawn in place on a terminal; appended otherwise (logs, tests)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.drawn = 0
        self.edits = 0

    def show(self, kind: str, text: str) -> None:
        self.edits += kind == "edit"
        body = f"{text}\n\n[{kind}: the bot has sent 1 message and {self.edits} edit(s)]\n"
        if self.tty and self.drawn:
            self.out.write(f"\x1b[{self.drawn}F\x1b[J")
        self.out.write(body)
        self.out.flush()
        self.drawn = body.count("\n")

    def note(self, text: str) -> None:
        self.out.write(f"{text}\n")
        self.out.flush()
        self.drawn = 0  # notes stay; the next message is drawn below them


def _private_names(env: dict[str, str], marker: str) -> None:
    """Queue, event log, channel and requests stream of the demo's own: with REDIS_URL set (a
    real Redis), its worker must take no real user's job and its bot no real bot's entry."""
    env["RQ__QUEUE"] = marker
    env["DIGITS_EVENTS_STREAM"] = f"{marker}:events:log"
    env["DIGITS_EVENTS_CHANNEL"] = f"{marker}:events"
    env["DIGITS_REQUESTS_STREAM"] = f"{marker}:requests"
    env["DIGITS_BOT_GROUP"] = marker  # the dry-run bot's throwaway group is named after it
    env.pop("DISCORD_PUBLIC_KEY", None)  # (a dry run serves no /train anyway)


def _wait_for_bot(env: dict[str, str], bot: Child) -> None:
    """Until the bot's group exists on the demo's log: it then reads the job from the start."""
    client = Redis.from_url(env["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            try:
                if client.xinfo_groups(env["DIGITS_EVENTS_STREAM"]):
                    return
            except ResponseError:  # no stream yet: the bot makes it with its group
                pass
            if bot.process.poll() is not None:
                raise RuntimeError(f"the bot exited {bot.process.returncode} at start")
            time.sleep(0.1)
    finally:
        client.close()
    raise RuntimeError("the bot did not start reading within 120 s")


def _drop_private(env: dict[str, str]) -> None:
    """Deletes the demo's streams and queue (it matters when REDIS_URL is someone's real Redis)."""
    client = Redis.from_url(env["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)
    try:
        queue = env["RQ__QUEUE"]
        client.delete(env["DIGITS_EVENTS_STREAM"], env["DIGITS_REQUESTS_STREAM"])
        for key in client.scan_iter(match=f"rq:*{queue}*", count=1000):  # its registries
            client.delete(key)
    except (OSError, RedisError):
        pass
    finally:
        client.close()


def _enqueue(env: dict[str, str], epochs: int) -> str:
    argv = [sys.executable, "-m", "handwriting_worker", "enqueue", "--user-id", "1"]
    argv += ["--epochs", str(epochs), "--notes", "make demo"]
    done = subprocess.run(
        argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"enqueue failed: {done.stderr.strip()}")
    return done.stdout.split()[1]


def _follow(bot: Child, screen: Screen) -> str:
    """Draws each update of the first message until it is final; returns its text."""
    assert bot.process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_lines, args=(bot.process.stdout, lines), daemon=True).start()
    live: str | None = None
    kind, target = "", ""
    body: list[str] = []
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.3)
        except queue.Empty:
            line = ""
        header = None if line is None else HEADER.match(line)
        if (header is not None or line in ("", None)) and body:
            text = "\n".join(body).strip()
            body = []
            if live is None or target == live:
                live = target
                screen.show(kind, text)
                if FINAL.search(text):
                    return text
        if line is None:
            raise RuntimeError("the bot stopped before the job's message was final")
        if header is not None:
            kind, target = header.group(1), header.group(2)
        elif line and kind:
            body.append(line)
    raise RuntimeError(f"the job's message was not final after {DEADLINE_S:.0f} s")


def _show_prediction(env: dict[str, str], screen: Screen) -> None:
    """One held-out digit read by the model the job made, as /predict answers it."""
    data_root = Path(env.get("DIGITS__DATA_ROOT", "data/mnist"))
    try:
        label, text = predict_one(
            data_root if data_root.is_absolute() else ROOT / data_root,
            Path(env["DIGITS__ARTIFACTS_ROOT"]),
            MODEL_ID,
        )
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"the prediction failed: {exc}") from exc
    screen.note(
        f"demo: /predict with a held-out {label} (a digit the job never trained on) would "
        f"answer:\n{text}"
    )


def run(epochs: int, out: TextIO) -> int:
    """The whole demo; the exit status."""
    children: list[Child] = []
    screen = Screen(out)
    with tempfile.TemporaryDirectory(prefix="digits-demo-") as tmp:
        env = dict(os.environ)
        env.update(
            {"DIGITS__ARTIFACTS_ROOT": f"{tmp}/artifacts", "DIGITS__SPOOL_DIR": f"{tmp}/spool"}
        )
        env["DIGITS__ACTIVATE"] = "always"  # its own folder: the prediction uses what it made
        _private_names(env, f"digits-demo-{os.getpid()}")
        try:
            ensure_bot_built()  # npm start runs typescript/dist/
            if "REDIS_URL" not in env:
                redis, env["REDIS_URL"] = start_redis(ROOT)
                children.append(redis)
                screen.note(f"demo: a private redis-server on {env['REDIS_URL']}")
            worker_argv = [sys.executable, "-m", "handwriting_worker", "worker"]
            children.append(Child("worker", worker_argv, env, ROOT, terms=2))
            bot_argv = ["npm", "start", "--silent", "--", "--dry-run"]
            bot = Child("bot", bot_argv, env, ROOT / "typescript", stdout=subprocess.PIPE)
            children.append(bot)
            _wait_for_bot(env, bot)
            request_id = _enqueue(env, epochs)
            screen.note(
                f"demo: queued request {request_id} ({epochs} epoch(s)); the bot's message:"
            )
            _follow(bot, screen)
            _show_prediction(env, screen)
            screen.note(f"demo: done after {screen.edits} edit(s) of one message; stopping.")
            return 0
        except Stop as stop:
            screen.note(f"demo: {stop}: stopping everything")
            return 130
        except RuntimeError as exc:
            screen.note(f"demo: {exc}")
            return 1
        finally:
            for child in children[1:] + children[:1]:  # worker, bot, then Redis
                child.stop()
            kill_marked(env["DIGITS_BOT_GROUP"])
            if "REDIS_URL" in os.environ:
                _drop_private(env)
            if os.environ.get("DISCORD_TOKEN"):
                screen.note(
                    "demo: DISCORD_TOKEN is set: for real Discord run `make setup`, then "
                    "`.venv/bin/python -m handwriting_worker worker` and `cd typescript && "
                    "npm start` (no --dry-run) with the same REDIS_URL, and enqueue a job."
                )


def main(argv: Sequence[str]) -> int:
    """``python -m demo``."""
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description=(
            "Runs Redis (private, unless REDIS_URL is set), one worker and the bot in dry-run "
            "mode, "
            "queues one job and shows its Discord message as the bot edits it, then one held-out "
            "digit read by the model it made, as /predict answers. Ctrl-C stops all."
        ),
    )
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="epochs of the job")
    args = parser.parse_args(argv)
    epochs: object = args.epochs
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    return run(epochs if isinstance(epochs, int) else DEFAULT_EPOCHS, sys.stdout)
