"""Thread count: TRAIN__THREADS, else the affinity mask capped by the cgroup v2 quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from handwriting_ai.training.threads import available_cpus, cgroup_cpu_limit, resolve_threads


def _cpu_max(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpu.max"
    path.write_text(text)
    return path


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


def test_available_cpus_takes_the_smaller(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert available_cpus(tmp_path / "absent") == affinity
    assert available_cpus(_cpu_max(tmp_path, "50000 100000")) == 1
    assert available_cpus(_cpu_max(tmp_path, f"{(affinity + 8) * 100000} 100000")) == affinity


def test_resolve_threads(tmp_path: Path) -> None:
    assert resolve_threads(3) == 3
    assert resolve_threads(0, _cpu_max(tmp_path, "100000 100000")) == 1
    assert resolve_threads(0) >= 1
    with pytest.raises(ValueError, match="threads must be 0"):
        resolve_threads(-1)
