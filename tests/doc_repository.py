"""What the repository offers the commands its documents name, each read or run once.

The Makefile's targets (from ``make -npq .DEFAULT``: rules read, nothing built), the bot's npm
scripts, and the ``--help`` text of each Python module or the bot's build, run in an empty folder
so that nothing a module might write lands in the checkout. ``doc_command_checks`` judges the
commands against these.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from demo.bot_build import ensure_bot_built

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 60.0
# (argv, bot): ("handwriting_worker", "tail") is `python -m handwriting_worker tail --help`;
# bot=True runs argv in typescript/ (the bot's build) with --help.
HelpKey = tuple[tuple[str, ...], bool]


def run(argv: list[str], cwd: Path | str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Exit status and output (stdout, then stderr) of ``argv``, at most ``TIMEOUT_S``."""
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return -1, f"no answer in {TIMEOUT_S:.0f} s"
    return done.returncode, done.stdout + done.stderr


class Repository:
    """Targets, scripts and ``--help`` texts of the checkout at ``root``."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self.makefile = (root / "Makefile").read_text()
        package = json.loads((root / "typescript" / "package.json").read_text())
        self.scripts: dict[str, str] = package["scripts"]
        self.targets = self._targets()
        self.helps: dict[HelpKey, tuple[int, str]] = {}

    def _targets(self) -> frozenset[str]:
        # .DEFAULT has no recipe: -q runs nothing, -p prints the rules make read.
        _, database = run(["make", "-npq", ".DEFAULT"], self.root)
        targets, previous = set(), ""
        for line in database.splitlines():
            rule = re.match(r"^([\w.][\w./-]*)::?(\s|$)", line)
            if rule and previous != "# Not a target:":
                targets.add(rule.group(1))
            previous = line
        return frozenset(targets)

    def run_helps(self, keys: Iterable[HelpKey]) -> None:
        """Run each ``--help`` not yet run, once, four at a time."""
        todo = [key for key in dict.fromkeys(keys) if key not in self.helps]
        if any(bot for _, bot in todo):
            ensure_bot_built()
        with ThreadPoolExecutor(max_workers=4) as pool:
            for key, answer in zip(todo, pool.map(self._help, todo), strict=True):
                self.helps[key] = answer

    def _help(self, key: HelpKey) -> tuple[int, str]:
        argv, bot = key
        if bot:
            return run([*argv, "--help"], self.root / "typescript")
        path = os.pathsep.join([str(self.root / "python" / "src"), str(self.root)])
        env = {**os.environ, "PYTHONPATH": path}
        with tempfile.TemporaryDirectory() as empty:
            return run([sys.executable, "-m", *argv, "--help"], empty, env)

    def make_dry_run(self, targets: list[str]) -> list[str]:
        """``make -n`` of ``targets``: the rules behind them resolve; nothing runs."""
        recursive = [
            line
            for line in self.makefile.splitlines()
            if line.startswith("\t") and (line[1:2] == "+" or re.search(r"\$[({]MAKE[)}]", line))
        ]
        if recursive:  # make -n runs these lines
            return [f"Makefile: recipe lines make -n would run, so not dry-run: {recursive}"]
        if not targets:
            return []
        code, output = run(["make", "-n", *targets], self.root)
        if code != 0:
            return [f"Makefile: `make -n {' '.join(targets)}` exits {code}: {output[-500:]}"]
        return []
