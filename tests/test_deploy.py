"""deploy/ stays true: every unit runs a real entry point, every setting is in the example file.

An operator copies ``deploy/`` as it is; a unit naming a subcommand that no longer exists, or an
example file missing a setting (or listing one nobody reads), would fail only in production.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from demo.bot_build import ensure_bot_built
from handwriting_ai.settings import Settings
from tests.conftest import RedisServer

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALL_ROOT = "/opt/digits"  # where the units expect the checkout
IMPORT_FROM = re.compile(r'^\s*(?:import|export)\b[^";]*?\bfrom\s*"([^".][^"]*)"', re.M)


def _python_settings(model: type[BaseModel] = Settings, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        inner = info.annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            names |= _python_settings(inner, f"{prefix}{name.upper()}__")
        else:
            names.add(prefix + name.upper())
    return names


def _bot_settings() -> set[str]:
    """The variables the bot's own --help lists (its Environment section)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGITS_", "DISCORD_"))}
    out = subprocess.run(
        ["npm", "start", "--silent", "--", "--help"],
        cwd=ROOT / "typescript",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    section = out.partition("Environment:")[2]
    return set(re.findall(r"^  ([A-Z][A-Z0-9_]+)\s", section, re.M))


def _example_names() -> list[str]:
    text = (DEPLOY / "digits.env.example").read_text()
    return re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", text, re.M)


def _exec_start(unit: Path) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(unit)
    return shlex.split(parser["Service"]["ExecStart"])


def test_there_are_units_for_the_worker_the_intake_and_the_bot() -> None:
    names = {unit.name for unit in UNITS}
    assert {"digits-worker@.service", "digits-bot.service", "digits-intake.service"} <= names


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_each_unit_runs_a_real_entry_point(unit: Path) -> None:
    argv = _exec_start(unit)
    if argv[:2] == [f"{INSTALL_ROOT}/.venv/bin/python", "-m"]:
        assert argv[2] == "handwriting_worker", argv
        help_run = subprocess.run(
            [sys.executable, "-m", "handwriting_worker", argv[3], "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert help_run.returncode == 0, f"{unit.name}: {help_run.stderr}"
        assert f"python -m handwriting_worker {argv[3]}" in help_run.stdout
        return
    assert argv == ["/usr/bin/node", "dist/main.js"], argv  # the build: no tsx at run time
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(unit)
    workdir = Path(parser["Service"]["WorkingDirectory"]).relative_to(INSTALL_ROOT)
    ensure_bot_built()
    assert (ROOT / workdir / argv[1]).is_file(), f"{unit.name}: {argv[1]} not built"
    scripts = json.loads((ROOT / workdir / "package.json").read_text())["scripts"]
    assert scripts["start"] == f"exec node {argv[1]}", "the unit and npm start differ"


def _bot_unit() -> tuple[list[str], Path]:
    unit = DEPLOY / "systemd" / "digits-bot.service"
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(unit)
    workdir = Path(parser["Service"]["WorkingDirectory"]).relative_to(INSTALL_ROOT)
    return _exec_start(unit), ROOT / workdir


def _read_only_dir(tmp_path: Path) -> tuple[Path, list[str]]:
    """A folder nobody can write to, and the prefix that runs a command with it so.

    Not root: mode 0555 is enough. Root ignores modes, so it gets what ProtectSystem=strict
    gives: a read-only bind mount, in a mount namespace of the command's own (unshare).
    """
    folder = tmp_path / "ro-tmp"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return folder, []
    mount = f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder}"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"{mount} && ! touch {folder}/x 2>/dev/null"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"root without mount namespaces: cannot make {folder} read-only")
    return folder, ["unshare", "-m", "sh", "-c", f'{mount} && exec "$@"', "sh"]


@pytest.mark.timeout(180)
def test_the_bot_unit_starts_with_a_read_only_tmpdir(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """ProtectSystem=strict makes /tmp read-only: tsx hung there, silently, for good."""
    argv, workdir = _bot_unit()
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    ensure_bot_built()
    folder, prefix = _read_only_dir(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGITS_", "DISCORD_"))}
    env.update(TMPDIR=str(folder), REDIS_URL=redis_server.url, DIGITS_BOT_GROUP="unit-test")
    bot = subprocess.Popen(
        [*prefix, node, *argv[1:], "--dry-run"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Lines are read by a thread: select() on a buffered pipe misses lines that arrived in one
    # read with an earlier one (they wait in the reader's buffer), as happened on a loaded machine.
    assert bot.stderr is not None
    stderr = bot.stderr
    printed: list[str] = []

    def read() -> None:
        for line in iter(stderr.readline, ""):
            printed.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any("listening on" in line for line in printed) and time.monotonic() < deadline:
            if bot.poll() is not None:
                reader.join(5)
                if not any("listening on" in line for line in printed):
                    pytest.fail(f"the bot exited {bot.returncode} at start: {''.join(printed)}")
            time.sleep(0.1)
        assert any("listening on" in line for line in printed), (
            f"the bot did not start within 60 s (it hangs at start): {''.join(printed)!r}"
        )
    finally:
        bot.terminate()
        bot.wait(30)


def test_the_bot_build_imports_production_dependencies_only() -> None:
    """`npm ci --omit=dev` leaves only "dependencies": the build may import nothing else."""
    ensure_bot_built()
    package = json.loads((ROOT / "typescript" / "package.json").read_text())
    allowed = set(package["dependencies"])
    imported: set[str] = set()
    for path in (ROOT / "typescript" / "dist").rglob("*.js"):
        text = path.read_text()
        for spec in re.findall(
            r'^\s*(?:import|export)\b[^";]*?\bfrom\s*"([^".][^"]*)"', text, re.M
        ):
            if not spec.startswith("node:"):
                parts = spec.split("/")
                imported.add("/".join(parts[:2]) if spec.startswith("@") else parts[0])
    assert imported, "no package imports found: the scan is broken"
    assert imported - allowed == set(), "the build imports devDependencies"


def test_a_worker_gets_a_cpu_share_its_torch_threads_follow() -> None:
    """TRAIN__THREADS=0 reads the unit's CPUQuota from its own cgroup (training/threads.py): the
    quota must be there, and the example file must leave TRAIN__THREADS at 0 (auto)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(DEPLOY / "systemd" / "digits-worker@.service")
    assert re.fullmatch(r"[1-9][0-9]*%", parser["Service"]["CPUQuota"])
    example = (DEPLOY / "digits.env.example").read_text()
    assert re.findall(r"^#?TRAIN__THREADS=(.*)$", example, re.M) == ["0"]


def test_every_unit_reads_the_example_environment_file() -> None:
    for unit in UNITS:
        assert "EnvironmentFile=/etc/digits/digits.env" in unit.read_text(), unit.name


def test_the_example_file_lists_every_setting_and_nothing_else() -> None:
    listed = _example_names()
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    real = _python_settings() | _bot_settings()
    assert set(listed) - real == set(), "listed but read by nothing"
    assert real - set(listed) == set(), "read but missing from deploy/digits.env.example"


def test_the_redis_config_keeps_what_the_durability_promise_needs() -> None:
    conf = (DEPLOY / "redis.conf").read_text()
    assert re.search(r"^appendonly yes$", conf, re.M)
    assert re.search(r"^appendfsync everysec$", conf, re.M)
    assert re.search(r"^maxmemory-policy noeviction$", conf, re.M)
