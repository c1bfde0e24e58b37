"""A Redis that goes silent does not hold the intake or ``tail`` past SIGTERM (issue 23, item 10).

A lost host or a cut network leaves TCP connections open and answers nothing; a redis-server
stopped with SIGSTOP does exactly that. With only a connect timeout, a read waited forever and
SIGTERM set a flag nobody looked at. Each long-running reader now has a read timeout above its
BLOCK time (and TCP keepalive), so it notices, sees the stop and exits well within its unit's
stop timeout (30 s for the intake). redis-py 8 happens to default to a 5 s read timeout and
keepalive; the clients no longer depend on that default (older redis-py had none), and the
intake's reads are not retried inside a call, its own loop retries with backoff.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from handwriting_ai.settings import Settings
from handwriting_worker.requests.intake import BLOCK_MS, READ_TIMEOUT_S
from handwriting_worker.rq.queue_commands import connect
from tests.conftest import RedisServer
from tests.e2e_support import wait_until

BOUND_S = READ_TIMEOUT_S + 7.0  # a read timeout, plus a busy machine's slack; the unit gives 30


def _start(name: str, args: list[str], url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGITS", "HANDWRITING"))}
    env.update(REDIS_URL=url, DIGITS__SPOOL_DIR=str(tmp_path / "spool"))
    return subprocess.Popen(
        [sys.executable, "-m", "handwriting_worker", *args],
        env=env,
        cwd=tmp_path,
        stdout=(tmp_path / f"{name}.out").open("wb"),
        stderr=subprocess.STDOUT,
    )


def _handles_sigterm(process: subprocess.Popen[bytes]) -> bool:
    """Whether the process installed its SIGTERM handler (it is past its imports)."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def _output(name: str, tmp_path: Path) -> str:
    return (tmp_path / f"{name}.out").read_text(errors="replace")


def _stops_in_time(process: subprocess.Popen[bytes], name: str, tmp_path: Path) -> float:
    """SIGTERM, then the seconds it took to exit (killed, and failed, past BOUND_S)."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(BOUND_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"{name} still running {BOUND_S} s after SIGTERM:\n{_output(name, tmp_path)}")
    took = time.monotonic() - started
    print(f"{name} stopped {took:.2f} s after SIGTERM")  # the figure, with -s
    return took


@pytest.mark.timing
@pytest.mark.timeout(300)
def test_intake_and_tail_stop_on_sigterm_while_redis_is_silent(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    intake = _start("intake", ["intake"], redis_server.url, tmp_path)
    tail = _start("tail", ["tail"], redis_server.url, tmp_path)
    try:
        wait_until("the intake", lambda: " reading " in _output("intake", tmp_path), 120, 0.1)
        wait_until("the tail", lambda: "listening on" in _output("tail", tmp_path), 120, 0.1)
        redis_server.pause()
        time.sleep(1.5)  # both are in a read Redis will never answer
        assert _stops_in_time(intake, "intake", tmp_path) < BOUND_S
        assert _stops_in_time(tail, "tail", tmp_path) < BOUND_S
    finally:
        redis_server.pause(False)
        for process in (intake, tail):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert intake.returncode == 0, _output("intake", tmp_path)
    assert "stopped" in _output("intake", tmp_path)


@pytest.mark.timing
@pytest.mark.timeout(300)
def test_tail_started_against_a_silent_redis_stops_on_sigterm(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    redis_server.pause()  # connecting works (the kernel accepts), the handshake never ends
    try:
        tail = _start("tail", ["tail"], redis_server.url, tmp_path)
        replay = _start("replay", ["tail", "--replay"], redis_server.url, tmp_path)
        for process in (tail, replay):
            wait_until("its signal handlers", partial(_handles_sigterm, process), 120, 0.05)
        time.sleep(1.0)  # connected, waiting for a reply
        _stops_in_time(tail, "tail", tmp_path)
        _stops_in_time(replay, "replay", tmp_path)
    finally:
        redis_server.pause(False)


def test_the_intake_client_bounds_every_read_itself(redis_server: RedisServer) -> None:
    client = connect(Settings(redis_url=redis_server.url), read_timeout_s=READ_TIMEOUT_S)
    try:
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == READ_TIMEOUT_S > BLOCK_MS / 1000
        assert kwargs["socket_keepalive"] is True
        retry = client.get_retry()
        assert retry is not None and retry.get_retries() == 0
    finally:
        client.close()
