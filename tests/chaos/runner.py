"""Plays one schedule against a fresh system: jobs and faults at their times, then every fault
healed, then it waits until every job has ended and its message shows it (or SETTLE_S passes),
stops every process and checks the invariants on what is left."""

from __future__ import annotations

import hashlib
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from redis import Redis

from tests.chaos.faults import apply
from tests.chaos.interactions import Interactions
from tests.chaos.invariants import Violation, check, settled
from tests.chaos.schedule import Fault, JobPlan, Schedule, generate
from tests.chaos.system import System

SETTLE_S = 90.0
"""After the last fault, how long every job has to end and every message to show it."""
QUIET_S = 3.0
"""How long it must stay that way (a stale writer's late edit still shows up)."""


@dataclass
class Outcome:
    schedule: Schedule
    injected: Counter[str]
    skipped: Counter[str]
    violations: list[Violation]
    wall_s: float

    def report(self) -> str:
        lines = [self.schedule.describe(), f"injected: {dict(self.injected)}"]
        if self.skipped:
            lines.append(f"skipped (no target at the time): {dict(self.skipped)}")
        lines += [f"VIOLATION {v}" for v in self.violations]
        lines.append(f"replay: make chaos SEED={self.schedule.seed}  ({self.wall_s:.0f} s)")
        return "\n".join(lines)


def _play(
    schedule: Schedule, system: System, interactions: Interactions
) -> tuple[Counter[str], Counter[str]]:
    injected: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    actions: list[tuple[float, JobPlan | Fault]] = [(j.at_s, j) for j in schedule.jobs]
    actions += [(f.at_s, f) for f in schedule.faults if f.kind != "duplicate_train"]
    start = time.monotonic()
    for at, action in sorted(actions, key=lambda a: a[0]):
        system.sleep(start + at - time.monotonic())
        if isinstance(action, JobPlan):
            interactions.train(action.epochs, action.duplicate)
            injected.update(["duplicate_train"] * action.duplicate)
        elif apply(action, system, interactions):
            injected[action.kind] += 1
        else:
            skipped[action.kind] += 1
    return injected, skipped


def _settle(system: System, client: Redis) -> None:
    deadline, quiet_since = time.monotonic() + SETTLE_S, None
    while time.monotonic() < deadline:
        system.sleep(0.5)
        if not settled(client, system.discord.all_writes()):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET_S:
            return


def run_schedule(schedule: Schedule, workdir: Path) -> Outcome:
    began = time.monotonic()
    secret = hashlib.sha256(f"chaos-{schedule.seed}".encode()).digest()
    system = System(workdir, secret)
    try:
        system.start()
        # After the start: a bot whose port was taken meanwhile listens on another.
        interactions = Interactions(secret, system.ports, random.Random(schedule.seed))
        injected, skipped = _play(schedule, system, interactions)
        system.heal()
        client = Redis.from_url(system.redis.url)
        try:
            _settle(system, client)
            system.stop()
            trains: dict[str, set[str]] = {}
            for delivery in interactions.deliveries:
                if delivery.kind == "train":
                    named = trains.setdefault(delivery.interaction_id, set())
                    named.update(Interactions.named(delivery))
            violations = check(client, system.discord.all_writes(), trains)
        finally:
            client.close()
    finally:
        system.close()
    return Outcome(schedule, injected, skipped, violations, time.monotonic() - began)


def run_seed(seed: int, keep: Path | None = None) -> Outcome:
    """The schedule of ``seed`` in a temporary folder, or in ``keep``/seed-N (logs kept)."""
    if keep is not None:
        workdir = keep / f"seed-{seed}"
        if workdir.exists() and any(workdir.iterdir()):
            # Its Redis would reload the old run's AOF, jobs and all, and break the invariants.
            raise SystemExit(f"--keep: {workdir} holds an earlier run; remove it or keep elsewhere")
        workdir.mkdir(parents=True, exist_ok=True)
        return run_schedule(generate(seed), workdir)
    with tempfile.TemporaryDirectory(prefix=f"chaos-{seed}-") as tmp:
        return run_schedule(generate(seed), Path(tmp))
