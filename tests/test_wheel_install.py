"""An installed wheel works without a checkout: the schemas travel as package data.

The project is built into a wheel from a copy of its sources, installed into a fresh venv in a
temporary folder (no checkout in sight; PYTHONPATH cleared), and ``enqueue`` runs from it:
``--help``, a request the schema refuses and one it queues on a real Redis. Nothing is
downloaded: the build uses this interpreter's setuptools (``--no-build-isolation``), the wheel
is installed with ``--no-deps``, and the new venv reads the dependencies (torch included) from
this venv's site-packages through a ``.pth`` file (whose own ``.pth`` files, this checkout's
editable install among them, are not run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import RedisServer

ROOT = Path(__file__).resolve().parent.parent


def _run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        argv, cwd=cwd, env=clean | env, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.mark.timeout(600)
def test_the_wheel_validates_and_queues_outside_the_checkout(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copytree(ROOT / "schemas", source / "schemas")
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "python", source / "python", symlinks=True, ignore=skip)
    pip = [sys.executable, "-m", "pip"]
    build = [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", "dist", "."]
    built = _run(build, source)
    assert built.returncode == 0, built.stderr
    [wheel] = (source / "dist").glob("*.whl")

    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(_run([str(python), "-c", purelib], tmp_path).stdout.strip())
    (site / "shared-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    install = [*pip, "--python", str(python), "install", "-q", "--no-deps", str(wheel)]
    installed = _run(install, tmp_path)
    assert installed.returncode == 0, installed.stderr

    where = _run([str(python), "-c", "import handwriting_ai as h; print(h.__file__)"], tmp_path)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    cli = [str(python), "-m", "handwriting_worker", "enqueue"]
    helped = _run([*cli, "--help"], tmp_path)
    assert helped.returncode == 0 and "--user-id" in helped.stdout, helped.stderr
    refused = _run([*cli, "--user-id", "1", "--lr", "nan"], tmp_path, REDIS_URL=redis_server.url)
    assert refused.returncode == 2 and "lr" in refused.stderr, refused.stderr
    queued = _run([*cli, "--user-id", "1"], tmp_path, REDIS_URL=redis_server.url)
    assert queued.returncode == 0 and queued.stdout.startswith("request_id "), queued.stderr
