"""How many threads torch should use: configured, or the CPUs this process may really use.

A worker unit limited with ``CPUQuota=`` (or a container limited to 1.5 CPUs) still sees every
host CPU in its affinity mask; running that many threads per worker thrashes (10-30x slower,
measured, with several workers on one machine). The quota is in the ``cpu.max`` of this
process's own cgroup v2 folder (``/proc/self/cgroup``) or of a slice above it, not only in the
root's ``/sys/fs/cgroup/cpu.max``: the smallest on the way up wins.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

PROC_SELF_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_limit(path: Path) -> int | None:
    """CPUs one ``cpu.max`` allows (``"<quota> <period>"``, rounded up); None: unlimited."""
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


def own_cgroup_dirs(proc_cgroup: Path = PROC_SELF_CGROUP, root: Path = CGROUP_ROOT) -> list[Path]:
    """This process's cgroup v2 folder and every folder above it, up to ``root``.

    ``/proc/self/cgroup`` holds ``0::/system.slice/digits-worker@1.service`` for a unit (``0::/``
    in a container, whose root is its own cgroup); without a v2 line only ``root`` is read.
    """
    try:
        lines = proc_cgroup.read_text(encoding="utf-8").splitlines()
    except OSError:
        return [root]
    relative = next((line[3:] for line in lines if line.startswith("0::")), "/")
    folder = (root / relative.lstrip("/")).resolve()
    top = root.resolve()
    if folder != top and top not in folder.parents:
        return [root]  # a path outside this namespace's mount: only the root is ours to read
    return [path for path in (folder, *folder.parents) if path == top or top in path.parents]


def process_cpu_limit(proc_cgroup: Path = PROC_SELF_CGROUP, root: Path = CGROUP_ROOT) -> int | None:
    """The smallest CPU quota on this process's cgroup path, or None if none is set."""
    limits = [cgroup_cpu_limit(folder / "cpu.max") for folder in own_cgroup_dirs(proc_cgroup, root)]
    known = [limit for limit in limits if limit is not None]
    return min(known) if known else None


def available_cpus(proc_cgroup: Path = PROC_SELF_CGROUP, root: Path = CGROUP_ROOT) -> int:
    """CPUs in this process's affinity mask, capped by its cgroup's quota."""
    cpus = len(os.sched_getaffinity(0))
    limit = process_cpu_limit(proc_cgroup, root)
    return max(1, min(cpus, limit) if limit is not None else cpus)


def resolve_threads(
    configured: int, proc_cgroup: Path = PROC_SELF_CGROUP, root: Path = CGROUP_ROOT
) -> int:
    """``configured`` (TRAIN__THREADS) when above 0, else the CPUs this process may use."""
    if configured < 0:
        raise ValueError(f"threads must be 0 (auto) or more, got {configured}")
    return configured if configured > 0 else available_cpus(proc_cgroup, root)
