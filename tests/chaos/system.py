"""The real system a schedule runs against, and its supervisor.

redis-server with an append-only file, the Discord stand-in, two bots (each with its own
interactions endpoint), two RQ workers and the intake, each in its own process group. A process
that a fault stopped is started again after the fault's delay, and one that exited by itself
(RQ quits on a Redis error in its main loop) after a second, as ``Restart=on-failure`` in
``deploy/`` does; ``tick`` does that and runs the timers faults set (a slow Discord ending).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from tests.chaos.ed25519 import public_key
from tests.chaos.invariants import requested_ids
from tests.chaos.schedule import APPLICATION_ID, CLAIM_MS, LEASE_MS, LOST_WORKER_AFTER_S
from tests.chaos.stand_in import ChaosDiscord
from tests.conftest import RedisServer, free_port
from tests.discord_api import serve_discord_api
from tests.e2e_support import Process, wait_until, worker_env

SELF_RESTART_S = 1.0
BOTS, WORKERS = ("bot0", "bot1"), ("worker0", "worker1")


class ChaosRedis(RedisServer):
    def send(self, sig: signal.Signals) -> None:
        """SIGSTOP / SIGCONT: Redis paused, as a stalled host or a long fork would."""
        if self._process is not None:
            self._process.send_signal(sig)


@dataclass
class Slot:
    name: str
    make: Callable[[int], Process]
    process: Process | None = None
    start_at: float | None = None
    """When the supervisor starts it again (monotonic); None while it should be running."""
    starts: int = 0


@dataclass
class System:
    workdir: Path
    secret: bytes
    redis: ChaosRedis = field(init=False)
    discord: ChaosDiscord = field(default_factory=ChaosDiscord)
    ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))
    slots: dict[str, Slot] = field(default_factory=dict)
    every: list[Process] = field(default_factory=list)
    timers: list[tuple[float, Callable[[], None]]] = field(default_factory=list)
    _stack: ExitStack = field(default_factory=ExitStack)

    def __post_init__(self) -> None:
        self.redis = ChaosRedis(free_port(), aof_dir=self.workdir / "aof")
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> Callable[[int], Process]:
        def make(n: int) -> Process:
            process = Process(name, args, env, self.workdir / "logs" / f"{name}-{n}.log")
            self.every.append(process)
            return process

        return make

    def _bot_env(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIGITS_")}
        env.update(
            DISCORD_TOKEN="test",
            DISCORD_API_URL=self.discord.url,
            REDIS_URL=self.redis.url,
            DIGITS_BOT_LEASE_MS=str(LEASE_MS),
            DIGITS_BOT_CLAIM_MS=str(CLAIM_MS),
            DISCORD_PUBLIC_KEY=public_key(self.secret).hex(),
            DISCORD_APPLICATION_ID=APPLICATION_ID,
            DIGITS_INTERACTIONS_PORT=str(port),
            DIGITS_MAX_JOBS_PER_USER="100",
            DIGITS_MAX_JOBS_TOTAL="100",
        )
        return env

    def start(self) -> None:
        self.redis.start()
        self._stack.enter_context(serve_discord_api(self.discord))
        python = worker_env(
            self.redis.url,
            self.workdir,
            RQ__LOST_WORKER_AFTER_S=str(LOST_WORKER_AFTER_S),
            INTAKE__CLAIM_IDLE_S="2",
        )
        node = ["sh", "-c", "cd typescript && exec node --import tsx src/main.ts"]
        for name, port in zip(BOTS, self.ports, strict=True):
            self.slots[name] = Slot(name, self._spawn(name, node, self._bot_env(port)))
        worker = [sys.executable, "-m", "handwriting_worker"]
        for name in WORKERS:
            self.slots[name] = Slot(name, self._spawn(name, [*worker, "worker"], python))
        self.slots["intake"] = Slot("intake", self._spawn("intake", [*worker, "intake"], python))
        for slot in self.slots.values():
            self._start(slot)
        for name in BOTS:
            bot = self.slots[name].process
            assert bot is not None
            wait_until(f"{name} to listen", partial(self._listening, bot), 120, 0.2)

    @staticmethod
    def _listening(bot: Process) -> bool:
        assert bot.alive(), bot.tail()
        return "interactions endpoint listening" in bot.output()

    def _start(self, slot: Slot) -> None:
        slot.process = slot.make(slot.starts)
        slot.starts += 1
        slot.start_at = None

    def tick(self) -> None:
        now = time.monotonic()
        for due, action in [t for t in self.timers if t[0] <= now]:
            self.timers.remove((due, action))
            action()
        for slot in self.slots.values():
            if slot.process is not None and not slot.process.alive() and slot.start_at is None:
                slot.start_at = now + SELF_RESTART_S
            exited = slot.process is None or not slot.process.alive()
            if slot.start_at is not None and slot.start_at <= now and exited:
                self._start(slot)

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.tick()
            time.sleep(min(0.1, left))

    def kill(self, name: str, sig: signal.Signals, restart_after_s: float) -> bool:
        """Signals a bot (its group) or a worker's parent (not its work horse)."""
        slot = self.slots[name]
        if slot.process is None or not slot.process.alive():
            return False
        pid = slot.process.popen.pid
        with contextlib.suppress(ProcessLookupError):
            if name in BOTS:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        slot.start_at = time.monotonic() + restart_after_s
        return True

    def pause(self, name: str, seconds: float) -> bool:
        """SIGSTOP a bot past its lease, then SIGCONT: a stalled writer that wakes up after
        another bot took its jobs over."""
        process = self.slots[name].process
        if process is None or not process.alive():
            return False
        os.killpg(process.popen.pid, signal.SIGSTOP)
        try:
            self.sleep(seconds)
        finally:
            os.killpg(process.popen.pid, signal.SIGCONT)
        return True

    def horse(self, name: str) -> int | None:
        """The pid of the worker's work horse, if it has one now."""
        process = self.slots[name].process
        if process is None or not process.alive():
            return None
        with contextlib.suppress(OSError):
            children = process.children()
            return children[0] if children else None
        return None

    def requested(self) -> list[str]:
        """Request ids the bots appended to the requests stream so far (none while Redis is
        away)."""
        client = Redis.from_url(self.redis.url, socket_timeout=2, socket_connect_timeout=2)
        try:
            return requested_ids(client)
        except RedisError:
            return []
        finally:
            client.close()

    def heal(self) -> None:
        """Every fault over: Discord answers at once, every process is started again now."""
        self.discord.server_error_count = self.discord.rate_limit_count = 0
        self.discord.answer_delay_s = 0.0
        self.timers.clear()
        for slot in self.slots.values():
            if slot.process is None or not slot.process.alive():
                self._start(slot)

    def stop(self) -> None:
        """Bots first (SIGTERM: they send what is pending), then everything else."""
        for process in sorted(self.every, key=lambda p: p.name not in BOTS):
            process.stop()

    def close(self) -> None:
        for process in self.every:
            process.stop(signal.SIGKILL, 5)
        self._stack.close()
        self.redis.stop()
