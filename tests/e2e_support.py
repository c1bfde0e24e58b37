"""Real processes for the end-to-end tests: the worker, the bot, the enqueue command, and a
subscriber that records every message on the events channel."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import IO, TypeVar

from redis import Redis
from redis.client import PubSub
from redis.exceptions import RedisError

from demo.bot_build import ensure_bot_built
from handwriting_ai.events.codec import decode_event

REPO = Path(__file__).resolve().parent.parent
CHANNEL = "digits:e2e-events"
QUEUE = "digits-e2e"
# Above 2^53: a JS number would lose its last digits.
USER_ID = 2**62 + 12345
MODEL_ID = "e2e_model"
TERMINAL = ("digits.train.completed.v1", "digits.train.failed.v1")

T = TypeVar("T")


def wait_until(
    what: str, check: Callable[[], T | None], timeout_s: float, every_s: float = 0.05
) -> T:
    """Polls ``check`` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)


@dataclass(frozen=True)
class Received:
    """One message on the channel: when it arrived, its bytes, and the event or the error."""

    at: float
    raw: bytes
    event: dict[str, object] | None
    error: str | None


class Subscriber:
    """Records every message on the channel; survives a Redis restart (resubscribes)."""

    def __init__(self, url: str) -> None:
        self.received: list[Received] = []
        self.reconnects = 0
        self._client = Redis.from_url(url, socket_connect_timeout=0.5)
        self._pubsub = PubSub(self._client.connection_pool, ignore_subscribe_messages=True)
        self._pubsub.subscribe(CHANNEL)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._pubsub.get_message(timeout=0.1)
            except (RedisError, OSError):
                # Redis went away: the next get_message reconnects and subscribes again.
                self.reconnects += 1
                time.sleep(0.1)
                continue
            if message is None:
                continue
            data = message["data"]
            assert isinstance(data, bytes)
            try:
                event: dict[str, object] | None = dict(decode_event(data))
                error = None
            except ValueError as exc:
                event, error = None, str(exc)
            self.received.append(Received(time.monotonic(), data, event, error))

    def events(self) -> list[dict[str, object]]:
        return [r.event for r in list(self.received) if r.event is not None]

    def invalid(self) -> list[Received]:
        return [r for r in list(self.received) if r.event is None]

    def types(self) -> list[str]:
        return [str(e["type"]) for e in self.events()]

    def first(self, type_name: str) -> dict[str, object] | None:
        return next((e for e in self.events() if e["type"] == type_name), None)

    def wait_for(self, type_name: str, timeout_s: float) -> dict[str, object]:
        return wait_until(
            f"{type_name} on the channel (got {self.types()[-5:]})",
            lambda: self.first(type_name),
            timeout_s,
        )

    def terminal(self) -> dict[str, object] | None:
        return next((e for e in self.events() if e["type"] in TERMINAL), None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._pubsub.close()
        self._client.close()


def worker_env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of the worker and enqueue commands: small, quick jobs."""
    env = dict(os.environ)
    for name in ("HANDWRITING_API_URL", "HANDWRITING_API_KEY"):
        env.pop(name, None)
    env.update(
        REDIS_URL=url,
        DIGITS_EVENTS_CHANNEL=CHANNEL,
        RQ__QUEUE=QUEUE,
        DIGITS__DATA_ROOT=str(REPO / "data" / "mnist"),
        DIGITS__ARTIFACTS_ROOT=str(tmp_path / "artifacts"),
        DIGITS__SPOOL_DIR=str(tmp_path / "spool"),  # never another test's spooled events
        TRAIN__THREADS="1",
        TRAIN__ARCH="cnn",
        TRAIN__MAX_TRAIN_SAMPLES="512",
        EVENTS__BATCH_EVERY="2",
        DIGITS__ACTIVATE="always",  # small runs: under the default floor
    )
    env.update(extra)
    return env


def enqueue(env: dict[str, str], request_id: str, epochs: int) -> None:
    """``python -m handwriting_worker enqueue`` for a small job of USER_ID."""
    args = ["enqueue", "--epochs", str(epochs), "--batch-size", "64"]
    args += ["--request-id", request_id, "--user-id", str(USER_ID), "--model-id", MODEL_ID]
    result = subprocess.run(
        [sys.executable, "-m", "handwriting_worker", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"request_id {request_id}"


class Process:
    """A child process in its own process group, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._out: IO[bytes] = log.open("ab")
        self.popen = subprocess.Popen(
            args,
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, chars: int = 3000) -> str:
        return f"--- {self.name} output (last {chars} chars) ---\n{self.output()[-chars:]}"

    def children(self) -> list[int]:
        pid = self.popen.pid
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(child) for child in text.split()]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 15.0) -> None:
        """Signals the whole group and waits; SIGKILL if it does not leave in time."""
        with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
            if self.popen.poll() is None:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(timeout_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # leftovers of the group, if any
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self._out.close()


def start_worker(env: dict[str, str], tmp_path: Path) -> Process:
    """``python -m handwriting_worker worker``: works the queue until stopped."""
    return Process(
        "worker",
        [sys.executable, "-m", "handwriting_worker", "worker"],
        env,
        tmp_path / "worker.log",
    )


def start_bot(url: str, discord_url: str, tmp_path: Path, **extra: str) -> Process:
    """``npm start`` in typescript/ against the Discord stand-in; returns once subscribed."""
    env = dict(os.environ)
    env.pop("DIGITS_NOTIFY_CHANNEL_ID", None)
    env.pop("DIGITS_EDIT_INTERVAL_MS", None)
    env.update(
        DISCORD_TOKEN="test",
        DISCORD_API_URL=discord_url,
        REDIS_URL=url,
        DIGITS_EVENTS_CHANNEL=CHANNEL,
    )
    env.update(extra)
    ensure_bot_built()
    bot = Process("bot", ["npm", "--prefix", "typescript", "start"], env, tmp_path / "bot.log")
    try:
        wait_until(
            "the bot to subscribe",
            lambda: "listening on" in bot.output() or (not bot.alive() and bot.tail()) or None,
            120,
            0.1,
        )
        assert bot.alive(), bot.tail()
    except BaseException:
        bot.stop()
        raise
    return bot


def read_manifest(tmp_path: Path) -> dict[str, object]:
    """manifest.json of the latest run of MODEL_ID, as written to disk."""
    text = (tmp_path / "artifacts" / MODEL_ID / "manifest.json").read_text()
    manifest: object = json.loads(text)
    assert isinstance(manifest, dict)
    return {str(k): v for k, v in manifest.items()}


_MARKDOWN = set("\\*_~`|><#-[]():.")


def md_escape(text: str) -> str:
    """What the bot's escapeText makes of plain ASCII ids."""
    return "".join(f"\\{c}" if c in _MARKDOWN else c for c in text)


def percent(fraction: float) -> str:
    """JS ``(fraction * 100).toFixed(2) + "%"`` (ties away from zero, as toFixed does)."""
    return f"{Decimal(fraction * 100).quantize(Decimal('0.01'), ROUND_HALF_UP)}%"


def size(count: int) -> str:
    """The bot's byte count format."""
    if count < 1024:
        return f"{count} B"
    unit, scale = ("KiB", 1024) if count < 1024 * 1024 else ("MiB", 1024 * 1024)
    return f"{Decimal(count / scale).quantize(Decimal('0.1'), ROUND_HALF_UP)} {unit}"
