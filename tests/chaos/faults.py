"""Applies one fault of a schedule to the running system; says whether it was injected (a work
horse can only be killed while one trains, a Cancel needs a job whose request id is known)."""

from __future__ import annotations

import os
import signal
import time

from tests.chaos.interactions import Interactions
from tests.chaos.schedule import OTHER, OWNER, Fault
from tests.chaos.supervisor import BOTS, WORKERS
from tests.chaos.system import System

SLOW_FOR_S = 6.0
"""How long Discord answers slowly after a discord_slow fault."""
HORSE_WAIT_S = 8.0
"""How long a horse_* fault waits for a job to be training."""


def _signal(kind: str) -> signal.Signals:
    return signal.SIGKILL if kind.endswith("sigkill") else signal.SIGTERM


def _horse(system: System, fault: Fault) -> bool:
    deadline = time.monotonic() + HORSE_WAIT_S
    order = [WORKERS[fault.target], WORKERS[1 - fault.target]]
    while time.monotonic() < deadline:
        for name in order:
            pid = system.horse(name)
            if pid is not None:
                try:
                    os.kill(pid, _signal(fault.kind))
                except ProcessLookupError:
                    continue
                return True
        system.sleep(0.2)
    return False


def _redis(system: System, fault: Fault) -> bool:
    if fault.kind == "redis_restart":
        system.redis.stop()  # SIGTERM: Redis writes its append-only file and exits
        system.sleep(fault.param)
        system.redis.start()
    else:
        system.redis.send(signal.SIGSTOP)
        try:
            system.sleep(fault.param)
        finally:
            system.redis.send(signal.SIGCONT)
    return True


def _discord(system: System, fault: Fault) -> bool:
    api = system.discord
    if fault.kind == "discord_5xx":
        api.server_error_count = int(fault.param)
    elif fault.kind == "discord_429":
        api.retry_after_s = 1.0
        api.rate_limit_count = int(fault.param)
    else:
        api.answer_delay_s = fault.param
        system.timers.append((time.monotonic() + SLOW_FOR_S, lambda: _fast(system)))
    return True


def _fast(system: System) -> None:
    system.discord.answer_delay_s = 0.0


def _cancel(system: System, fault: Fault, interactions: Interactions) -> bool:
    # A /train answered late (deferred: Discord was slow) names no request id; the stream does.
    known = list(dict.fromkeys([*interactions.request_ids(), *system.requested()]))
    if not known:
        return False
    request_id = known[fault.target % len(known)]
    interactions.cancel(OTHER if fault.kind == "cancel_other" else OWNER, request_id)
    if fault.kind == "cancel_twice":
        system.sleep(fault.param)
        interactions.cancel(OWNER, request_id)
    return True


def apply(fault: Fault, system: System, interactions: Interactions) -> bool:
    kind = fault.kind
    if kind == "bot_pause":
        return system.pause(BOTS[fault.target], fault.param)
    if kind.startswith("bot_"):
        return system.kill(BOTS[fault.target], _signal(kind), fault.param)
    if kind.startswith("worker_"):
        return system.kill(WORKERS[fault.target], _signal(kind), fault.param)
    if kind.startswith("horse_"):
        return _horse(system, fault)
    if kind.startswith("redis_"):
        return _redis(system, fault)
    if kind.startswith("discord_"):
        return _discord(system, fault)
    if kind.startswith("cancel_"):
        return _cancel(system, fault, interactions)
    raise ValueError(f"unknown fault kind {kind!r}; the kinds are schedule.KINDS")
