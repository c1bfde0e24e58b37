"""A seeded fault schedule: when each job is asked for, and which fault hits when.

Plain ``random.Random(seed)``, not hypothesis: one schedule runs the whole system for a minute
or more, far too long for hypothesis to re-run while shrinking, and the seed alone replays it
(``make chaos SEED=n``); ``describe`` prints what it does. The bounds the faults are sized
against (the bots' lease, RQ's lost-worker bound) are set small here and handed to the system.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

LEASE_MS = 1500
"""DIGITS_BOT_LEASE_MS: a paused Redis outlasts it (redis_pause_lease)."""
CLAIM_MS = 1000
LOST_WORKER_AFTER_S = 4
"""RQ__LOST_WORKER_AFTER_S, its smallest value: redis_pause_lost outlasts it."""
EDIT_INTERVAL_S = 1.5
"""The bot's default DIGITS_EDIT_INTERVAL_MS, which the harness keeps."""
APPLICATION_ID = "424242"
OWNER = 2**62 + 12345
"""Who asks for every job (above 2^53: a JS number would lose its last digits)."""
OTHER = 1234567890123456789
"""Who presses Cancel on a job not theirs (no admin)."""

PROCESS_KINDS = (
    "bot_pause",
    "bot_sigkill",
    "bot_sigterm",
    "worker_sigkill",
    "worker_sigterm",
    "horse_sigkill",
    "horse_sigterm",
)
REDIS_KINDS = ("redis_restart", "redis_pause_lease", "redis_pause_lost")
DISCORD_KINDS = ("discord_5xx", "discord_429", "discord_slow")
CANCEL_KINDS = ("cancel_owner", "cancel_other", "cancel_twice")
KINDS = (*PROCESS_KINDS, *REDIS_KINDS, *DISCORD_KINDS, *CANCEL_KINDS, "duplicate_train")


@dataclass(frozen=True)
class JobPlan:
    """One /train, posted ``at_s`` after the start (twice when ``duplicate``)."""

    index: int
    at_s: float
    epochs: int
    duplicate: bool = False


@dataclass(frozen=True)
class Fault:
    """``target``: which bot or worker (0, 1) or job; ``param``: seconds or a count."""

    at_s: float
    kind: str
    target: int
    param: float


@dataclass(frozen=True)
class Schedule:
    seed: int
    jobs: tuple[JobPlan, ...]
    faults: tuple[Fault, ...]

    def describe(self) -> str:
        lines = [f"schedule seed={self.seed}"]
        for job in sorted(self.jobs, key=lambda j: j.at_s):
            twice = " (delivered twice)" if job.duplicate else ""
            lines.append(f"  {job.at_s:6.1f}s /train #{job.index} epochs={job.epochs}{twice}")
        for fault in self.faults:
            lines.append(f"  {fault.at_s:6.1f}s {fault.kind} target={fault.target} {fault.param}")
        return "\n".join(lines)


def _param(rng: random.Random, kind: str) -> float:
    """Restart delay, pause or outage length, answer delay (s), or a count of answers."""
    lease_s, lost_s = LEASE_MS / 1000, float(LOST_WORKER_AFTER_S)
    ranges = {
        "redis_restart": (0.2, 2.0),
        "bot_pause": (lease_s + 0.5, lease_s + 8.0),  # long enough to outlast a job's end
        "redis_pause_lease": (lease_s + 0.5, lost_s - 0.5),
        "redis_pause_lost": (lost_s + 1.0, lost_s + 3.0),
        "discord_5xx": (1, 6),
        "discord_429": (1, 4),
        "discord_slow": (1.0, 12.0),
        "cancel_twice": (0.0, 0.5),
    }
    if kind == "duplicate_train":
        return 0.0
    low, high = ranges.get(kind, (0.5, 3.0))
    if kind in ("discord_5xx", "discord_429"):
        return float(rng.randint(int(low), int(high)))
    return round(rng.uniform(low, high), 2)


def generate(seed: int, jobs: int = 3, faults: int = 7, span_s: float = 30.0) -> Schedule:
    """``jobs`` small jobs asked for in the first half of ``span_s``, ``faults`` faults spread
    over it, their kinds drawn in turn from a shuffled list of every kind."""
    rng = random.Random(seed)
    plans = [
        JobPlan(i, round(rng.uniform(0, span_s / 2), 1), rng.choice((1, 2))) for i in range(jobs)
    ]
    kinds = list(KINDS)
    rng.shuffle(kinds)
    out: list[Fault] = []
    for n in range(faults):
        kind = kinds[n % len(kinds)]
        target = (
            rng.randrange(jobs) if kind in (*CANCEL_KINDS, "duplicate_train") else rng.randrange(2)
        )
        if kind == "duplicate_train":
            plans[target] = replace(plans[target], duplicate=True)
            at = plans[target].at_s
        elif kind in (*CANCEL_KINDS, *PROCESS_KINDS):
            # While that job (or the next) is likely queued or training.
            at = plans[rng.randrange(jobs)].at_s + rng.uniform(1.0, 12.0)
        else:
            at = rng.uniform(2.0, span_s)
        out.append(Fault(round(at, 1), kind, target, _param(rng, kind)))
    out.sort(key=lambda f: f.at_s)
    return Schedule(seed, tuple(plans), tuple(out))
