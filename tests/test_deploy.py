"""deploy/ stays true: every unit runs a real entry point, every setting is in the example file.

An operator copies ``deploy/`` as it is; a unit naming a subcommand that no longer exists, or an
example file missing a setting (or listing one nobody reads), would fail only in production.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from handwriting_ai.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALL_ROOT = "/opt/digits"  # where the units expect the checkout


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
    assert argv[:3] == ["/usr/bin/node", "--import", "tsx"], argv
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(unit)
    workdir = Path(parser["Service"]["WorkingDirectory"]).relative_to(INSTALL_ROOT)
    assert (ROOT / workdir / argv[3]).is_file(), f"{unit.name}: {argv[3]} not found"
    package = (ROOT / workdir / "package.json").read_text()
    assert f"node --import tsx {argv[3]}" in package, "the unit and npm start differ"


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
