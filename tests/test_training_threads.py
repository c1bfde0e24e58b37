"""Thread count: TRAIN__THREADS, else the affinity mask capped by this process's cgroup quota.

The quota is read where systemd puts a unit's ``CPUQuota=``: the ``cpu.max`` of the folder
``/proc/self/cgroup`` names, and of the slices above it; fake trees stand in for both.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from handwriting_ai.training.threads import (
    available_cpus,
    cgroup_cpu_limit,
    own_cgroup_dirs,
    process_cpu_limit,
    resolve_threads,
)

UNIT = "system.slice/digits-worker@1.service"


def _cpu_max(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpu.max"
    path.write_text(text)
    return path


def _tree(tmp_path: Path, limits: dict[str, str], own: str = UNIT) -> tuple[Path, Path]:
    """A fake /proc/self/cgroup naming ``own`` and a cgroup root with ``limits`` by folder."""
    root = tmp_path / "cgroup"
    for folder, text in limits.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "cpu.max").write_text(text)
    (root / own).mkdir(parents=True, exist_ok=True)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"12:cpu,cpuacct:/ignored\n0::/{own}\n")
    return proc, root


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("max 100000\n", None),
        ("150000 100000\n", 2),
        ("200000 100000\n", 2),
        ("50000 100000\n", 1),
        ("400000 100000", 4),
        ("garbage", None),
        ("a b", None),
        ("0 100000", None),
        ("100000 0", None),
    ],
)
def test_cgroup_quota(tmp_path: Path, text: str, limit: int | None) -> None:
    assert cgroup_cpu_limit(_cpu_max(tmp_path, text)) == limit


def test_no_cgroup_file(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path / "absent") is None


def test_a_unit_s_cpu_quota_is_read_from_its_own_cgroup(tmp_path: Path) -> None:
    """CPUQuota=100% on the unit; the root has no limit (the case the root-only read missed)."""
    proc, root = _tree(tmp_path, {"": "max 100000\n", UNIT: "100000 100000\n"})
    assert own_cgroup_dirs(proc, root) == [
        (root / UNIT).resolve(),
        (root / "system.slice").resolve(),
        root.resolve(),
    ]
    assert process_cpu_limit(proc, root) == 1
    assert available_cpus(proc, root) == 1
    assert resolve_threads(0, proc, root) == 1


def test_the_smallest_quota_on_the_way_up_wins(tmp_path: Path) -> None:
    proc, root = _tree(tmp_path, {"system.slice": "200000 100000", UNIT: "800000 100000"})
    assert process_cpu_limit(proc, root) == 2


def test_without_a_v2_line_or_outside_the_root_only_the_root_is_read(tmp_path: Path) -> None:
    proc, root = _tree(tmp_path, {"": "300000 100000", UNIT: "100000 100000"})
    proc.write_text("4:memory:/x\n")
    assert own_cgroup_dirs(proc, root) == [root]
    assert process_cpu_limit(proc, root) == 3
    proc.write_text("0::/../../elsewhere\n")
    assert own_cgroup_dirs(proc, root) == [root]
    assert own_cgroup_dirs(tmp_path / "no-proc-file", root) == [root]
    proc.write_text("0::/\n")  # a container: its root is its own cgroup
    assert own_cgroup_dirs(proc, root) == [root.resolve()]


def test_available_cpus_takes_the_smaller(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    proc, root = _tree(tmp_path, {})
    assert available_cpus(proc, root) == affinity
    (root / UNIT / "cpu.max").write_text(f"{(affinity + 8) * 100000} 100000")
    assert available_cpus(proc, root) == affinity


def test_resolve_threads(tmp_path: Path) -> None:
    assert resolve_threads(3) == 3
    assert resolve_threads(0) >= 1
    with pytest.raises(ValueError, match="threads must be 0"):
        resolve_threads(-1)
