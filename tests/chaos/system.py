"""The real system a schedule runs against: redis-server with an append-only file, the Discord
stand-in, two bots (each with its own interactions endpoint), two RQ workers and the intake, each
process in its own process group, under the supervisor (supervisor.py)."""

from __future__ import annotations

import os
import signal
import sys
from contextlib import ExitStack
from functools import partial
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from tests.chaos.ed25519 import public_key
from tests.chaos.records import requested_ids
from tests.chaos.schedule import APPLICATION_ID, CLAIM_MS, LEASE_MS, LOST_WORKER_AFTER_S
from tests.chaos.stand_in import ChaosDiscord
from tests.chaos.supervisor import BOTS, WORKERS, Slot, Supervisor
from tests.conftest import RedisServer, free_port
from tests.discord_api import serve_discord_api
from tests.e2e_support import Process, wait_until, worker_env


class ChaosRedis(RedisServer):
    def send(self, sig: signal.Signals) -> None:
        """SIGSTOP / SIGCONT: Redis paused, as a stalled host or a long fork would."""
        if self._process is not None:
            self._process.send_signal(sig)


NODE = ["sh", "-c", "cd typescript && exec node --import tsx src/main.ts"]


class System(Supervisor):
    def __init__(self, workdir: Path, secret: bytes) -> None:
        super().__init__()
        self.workdir, self.secret = workdir, secret
        self.redis = ChaosRedis(free_port(), aof_dir=workdir / "aof")
        self.discord = ChaosDiscord()
        self.ports = (free_port(), free_port())
        self.every: list[Process] = []
        """Every process started, for the clean-up (orphaned work horses included)."""
        self._stack = ExitStack()
        (workdir / "logs").mkdir(parents=True, exist_ok=True)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> Slot:
        def make(n: int) -> Process:
            process = Process(name, args, env, self.workdir / "logs" / f"{name}-{n}.log")
            self.every.append(process)
            return process

        return Slot(name, make)

    def _bot_env(self, name: str, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIGITS_")}
        env.update(
            # The stand-in takes any token: each bot's names the writer of what it sends.
            DISCORD_TOKEN=f"test-{name}",
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
        for name, port in zip(BOTS, self.ports, strict=True):
            self.slots[name] = self._spawn(name, NODE, self._bot_env(name, port))
        worker = [sys.executable, "-m", "handwriting_worker"]
        for name in WORKERS:
            self.slots[name] = self._spawn(name, [*worker, "worker"], python)
        self.slots["intake"] = self._spawn("intake", [*worker, "intake"], python)
        for slot in self.slots.values():
            slot.start()
        for name in BOTS:
            self._await_listening(name)

    def _await_listening(self, name: str, tries: int = 3) -> None:
        """Waits until the bot listens; one whose port another process took meanwhile (runners
        side by side pick free ports too: seed 7111) is started again on another port."""
        for attempt in range(tries):
            bot = self.slots[name].process
            assert bot is not None
            try:
                wait_until(f"{name} to listen", partial(self._listening, bot), 120, 0.2)
                return
            except AssertionError:
                if attempt == tries - 1 or "EADDRINUSE" not in bot.output():
                    raise
            index = BOTS.index(name)
            ports = list(self.ports)
            ports[index] = free_port()
            self.ports = (ports[0], ports[1])
            self.slots[name] = self._spawn(name, NODE, self._bot_env(name, ports[index]))
            self.slots[name].start()

    @staticmethod
    def _listening(bot: Process) -> bool:
        assert bot.alive(), bot.tail()
        return "interactions endpoint listening" in bot.output()

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
        self.restart_all()

    def stop(self) -> None:
        """Bots first (SIGTERM: they send what is pending), then everything else."""
        for process in sorted(self.every, key=lambda p: p.name not in BOTS):
            process.stop()

    def close(self) -> None:
        for process in self.every:
            process.stop(signal.SIGKILL, 5)
        self._stack.close()
        self.redis.stop()
