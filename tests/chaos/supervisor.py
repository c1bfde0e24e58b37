"""The processes of a run and their supervisor: a process that a fault stopped is started again
after the fault's delay, and one that exited by itself (RQ quits on a Redis error in its main
loop) a second after, as ``Restart=on-failure`` in ``deploy/`` does, never while the old one
still runs. ``tick`` does that and runs the timers faults set (a slow Discord ending)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.e2e_support import Process

SELF_RESTART_S = 1.0
BOTS, WORKERS = ("bot0", "bot1"), ("worker0", "worker1")


@dataclass
class Slot:
    name: str
    make: Callable[[int], Process]
    process: Process | None = None
    start_at: float | None = None
    """When the supervisor starts it again (monotonic); None while it should be running."""
    starts: int = 0

    def start(self) -> None:
        self.process = self.make(self.starts)
        self.starts += 1
        self.start_at = None

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()


@dataclass
class Supervisor:
    slots: dict[str, Slot] = field(default_factory=dict)
    timers: list[tuple[float, Callable[[], None]]] = field(default_factory=list)

    def tick(self) -> None:
        now = time.monotonic()
        for due, action in [t for t in self.timers if t[0] <= now]:
            self.timers.remove((due, action))
            action()
        for slot in self.slots.values():
            if slot.process is not None and not slot.alive() and slot.start_at is None:
                slot.start_at = now + SELF_RESTART_S
            if slot.start_at is not None and slot.start_at <= now and not slot.alive():
                slot.start()

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.tick()
            time.sleep(min(0.1, left))

    def kill(self, name: str, sig: signal.Signals, restart_after_s: float) -> bool:
        """Signals a bot (its group) or a worker's parent (not its work horse)."""
        slot = self.slots[name]
        if slot.process is None or not slot.alive():
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
        try:
            os.killpg(process.popen.pid, signal.SIGSTOP)
        except ProcessLookupError:  # it exited since alive() (a restart race: seed 5304)
            return False
        try:
            self.sleep(seconds)
        finally:
            with contextlib.suppress(ProcessLookupError):  # gone meanwhile: nothing to wake
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

    def restart_all(self) -> None:
        """Every fault over: each process that is not running is started now."""
        self.timers.clear()
        for slot in self.slots.values():
            if not slot.alive():
                slot.start()
