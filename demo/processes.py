"""Child processes of the demo: each in its own process group, stopped with SIGTERM, then killed.

Own process groups make Ctrl-C reach only the demo, which then stops its children in order (the
bot last, so it can flush the newest state), and make sure nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

STOP_TIMEOUT_S = 15.0


class Child:
    """One started process (and its group)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        *,
        stdout: int | None = subprocess.DEVNULL,
        terms: int = 1,
    ) -> None:
        self.name = name
        self.terms = terms
        self.process = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
            encoding="utf-8",
            errors="replace",
        )

    def stop(self) -> None:
        """``terms`` SIGTERMs to the group, SIGKILL after ``STOP_TIMEOUT_S``; waits for the end.

        An RQ worker takes two: the first asks for a warm shutdown (finish the job), the second
        for a cold one (stop its work horse, which runs in a session of its own, now).
        """
        if self.process.poll() is None:
            for _ in range(self.terms):
                self._signal(signal.SIGTERM)
                time.sleep(0.2)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._signal(signal.SIGKILL)  # anything of its group still there

    def _signal(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis(cwd: Path, timeout_s: float = 10.0) -> tuple[Child, str]:
    """A private redis-server on a free port, keeping nothing on disk; its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not on PATH: install Redis, or set REDIS_URL")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    child = Child("redis-server", argv, os.environ, cwd)
    client = Redis(port=port, socket_connect_timeout=0.2, socket_timeout=0.5)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                client.ping()
                return child, f"redis://127.0.0.1:{port}/0"
            except RedisError:
                if child.process.poll() is not None or time.monotonic() > deadline:
                    child.stop()
                    raise RuntimeError(f"redis-server on port {port} did not start") from None
                time.sleep(0.05)
    finally:
        client.close()


def kill_marked(marker: str) -> None:
    """SIGKILLs every process whose environment holds ``marker``, work horses included.

    RQ runs each job in a work horse in a session of its own, so stopping the worker's process
    group can leave it behind; everything the demo starts carries the marker in its environment.
    """
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or proc.name == me:
            continue
        try:
            if marker.encode() not in (proc / "environ").read_bytes():
                continue
            os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue
