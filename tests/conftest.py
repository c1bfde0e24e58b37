"""Shared fixtures: a private redis-server, started and stopped by the test that needs it."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError

from handwriting_worker.requests.intake import Intake
from tests.e2e_support import Subscriber


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PortTaken(RuntimeError):
    """The free port went to another process before redis-server could bind it."""


class RedisServer:
    """A redis-server of its own on ``port``; ``stop``/``start`` to restart.

    No persistence, unless ``aof_dir`` is given: then an append-only file in that folder,
    fsynced every second (the settings the README asks for in production).
    """

    def __init__(self, port: int, aof_dir: Path | None = None) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.aof_dir = aof_dir
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Starts the server and waits until it answers (itself, not another on the port)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH; install Redis to run these tests")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        if self.aof_dir is None:
            args += ["--save", "", "--appendonly", "no"]  # nothing written to disk
        else:
            self.aof_dir.mkdir(parents=True, exist_ok=True)
            args += ["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]
            args += ["--dir", str(self.aof_dir)]
        self._process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    answered_by = client.info("server")["process_id"]
                except RedisError:
                    if self._process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"redis-server on port {self.port} did not start"
                        ) from None
                    time.sleep(0.01)
                    continue
                if answered_by != self._process.pid:
                    # Another test's server took the port between free_port() and this bind (tests
                    # run in parallel under xdist): this one exits, that one must not be used.
                    self.stop()
                    raise PortTaken(f"port {self.port} was taken by another redis-server")
                return
        finally:
            client.close()

    def pause(self, paused: bool = True) -> None:
        """SIGSTOP (or, ``paused=False``, SIGCONT): a Redis that keeps its connections open
        and answers nothing, as a lost host or a cut network looks to its clients."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    def stop(self) -> None:
        """Stops the server (and waits until it has exited)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


def start_redis_server(attempts: int = 3) -> RedisServer:
    """A started RedisServer on a free port; another port if the first is taken meanwhile."""
    for _ in range(attempts - 1):
        server = RedisServer(free_port())
        try:
            server.start()
            return server
        except PortTaken:
            pass
    server = RedisServer(free_port())
    server.start()
    return server


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private, empty Redis on a free port, stopped after the test."""
    server = start_redis_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def subscriber(redis_server: RedisServer) -> Iterator[Subscriber]:
    """Records every message on the events channel of ``redis_server`` (tests.e2e_support)."""
    sub = Subscriber(redis_server.url)
    try:
        yield sub
    finally:
        sub.close()


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[Redis]:
    """A client of ``redis_server``, closed after the test."""
    connection = Redis.from_url(redis_server.url)
    try:
        yield connection
    finally:
        connection.close()


class Running:
    """An Intake working in a thread of this process until the test ends."""

    def __init__(self, intake: Intake) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=intake.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive()


@pytest.fixture
def running() -> Iterator[list[Running]]:
    """Intakes a test starts in threads (``Running``); stopped after it."""
    started: list[Running] = []
    try:
        yield started
    finally:
        for item in started:
            item.close()
