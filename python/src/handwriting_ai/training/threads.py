"""How many threads torch should use: configured, or the CPUs this process may really use."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def cgroup_cpu_limit(path: Path = CGROUP_CPU_MAX) -> int | None:
    """CPUs allowed by a cgroup v2 quota (``"<quota> <period>"``, rounded up), or None if unlimited.

    A container limited to 1.5 CPUs still sees every host CPU in its affinity mask; running
    that many threads thrashes, so the quota wins.
    """
    try:
        fields = path.read_text(encoding="ascii").split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))


def available_cpus(cgroup_path: Path = CGROUP_CPU_MAX) -> int:
    """CPUs in this process's affinity mask, capped by the cgroup v2 quota."""
    cpus = len(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit(cgroup_path)
    return max(1, min(cpus, limit) if limit is not None else cpus)


def resolve_threads(configured: int, cgroup_path: Path = CGROUP_CPU_MAX) -> int:
    """``configured`` (TRAIN__THREADS) when above 0, else the CPUs this process may use."""
    if configured < 0:
        raise ValueError(f"threads must be 0 (auto) or more, got {configured}")
    return configured if configured > 0 else available_cpus(cgroup_path)
