"""No command prints REDIS_URL's password, however it is written (issue 23, item 6).

Base64 passwords hold ``/``, ``+`` and ``=``, others ``#`` or ``?``: each ends what a URL parser
calls the password, so redacting only that part printed the rest. Every command that prints a
Redis URL (enqueue, tail, tail --replay, worker, intake) runs here against a real redis-server
that requires such a password, given raw (refused at start-up), percent-encoded (works) and
wrong (refused by Redis): no fragment of the password may appear in anything they print.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from redis import Redis
from redis.exceptions import RedisError

from tests.conftest import free_port

PIECES = ("S3kr1t", "Fr4gm", "Qu3ry", "B64pad")
PASSWORD = f"{PIECES[0]}/{PIECES[1]}#{PIECES[2]}?{PIECES[3]}=="
REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "enqueue": ["enqueue", "--user-id", "7", "--epochs", "1"],
    "tail": ["tail", "--count", "0"],
    "replay": ["tail", "--replay", "--count", "0"],
    "worker": ["worker", "--burst"],
    "intake": ["intake"],
}


@pytest.fixture
def port() -> Iterator[int]:
    """A redis-server that requires PASSWORD."""
    number = free_port()
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is not on PATH"
    args = [binary, "--port", str(number), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    server = subprocess.Popen([*args, "no", "--requirepass", PASSWORD], stdout=subprocess.DEVNULL)
    client = Redis(port=number, password=PASSWORD, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except RedisError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
    client.close()
    try:
        yield number
    finally:
        server.terminate()
        server.wait(10)


def _run_all(url: str, tmp_path: Path) -> dict[str, str]:
    """Every command at once against ``url``: name -> all it printed (the intake stopped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGITS", "HANDWRITING"))}
    env.update(REDIS_URL=url, DIGITS__SPOOL_DIR=str(tmp_path / "spool"))
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", "handwriting_worker", *args],
            env=env,
            cwd=tmp_path,
            stdout=(tmp_path / f"{name}.out").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for name, args in COMMANDS.items()
    }
    intake_log = tmp_path / "intake.out"
    deadline = time.monotonic() + 200  # five commands starting at once on a busy machine
    while started["intake"].poll() is None and time.monotonic() < deadline:
        if b" reading " in intake_log.read_bytes():
            break
        time.sleep(0.1)
    if started["intake"].poll() is None:
        started["intake"].send_signal(signal.SIGTERM)
    for process in started.values():
        process.wait(90)
    return {name: (tmp_path / f"{name}.out").read_text(errors="replace") for name in COMMANDS}


def _assert_secret_kept(outputs: dict[str, str]) -> None:
    for name, text in outputs.items():
        for piece in PIECES:
            assert piece not in text, f"{name} printed part of the password:\n{text}"


@pytest.mark.timeout(300)
def test_a_raw_password_stops_every_command_at_start_unprinted(port: int, tmp_path: Path) -> None:
    outputs = _run_all(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", tmp_path)
    _assert_secret_kept(outputs)
    for name, text in outputs.items():
        assert "REDIS_URL is invalid: the port is not a number" in text, (name, text)
        assert "percent-encoded" in text


@pytest.mark.timeout(300)
def test_an_encoded_password_works_and_is_never_printed(port: int, tmp_path: Path) -> None:
    outputs = _run_all(f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/0", tmp_path)
    _assert_secret_kept(outputs)
    assert outputs["enqueue"].startswith("request_id "), outputs["enqueue"]
    assert f"listening on digits:events at redis://***@127.0.0.1:{port}/0" in outputs["tail"]
    assert (
        f"following the log digits:events:log at redis://***@127.0.0.1:{port}/0"
        in (outputs["replay"])
    )
    assert " reading digits:requests as group intake" in outputs["intake"]


@pytest.mark.timeout(300)
def test_a_wrong_password_is_refused_by_redis_and_never_printed(port: int, tmp_path: Path) -> None:
    wrong = quote(PASSWORD[::-1], safe="")
    outputs = _run_all(f"redis://:{wrong}@127.0.0.1:{port}/0?password={wrong}", tmp_path)
    reversed_pieces = [piece[::-1] for piece in PIECES]
    for name, text in outputs.items():
        assert not any(piece in text for piece in reversed_pieces), (name, text)
    assert f"redis://***@127.0.0.1:{port}/0?password=***" in outputs["enqueue"]
    assert f"redis://***@127.0.0.1:{port}/0?password=***" in outputs["tail"]
