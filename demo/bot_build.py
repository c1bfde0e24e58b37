"""The bot runs from its build (``typescript/dist/``): build it again when a source is newer.

``npm start`` and the systemd unit run the compiled JavaScript with production dependencies only,
so nothing is compiled at run time (tsx's cache in a read-only ``/tmp`` once hung the bot under
``ProtectSystem=strict``). The demo and the tests that start the bot call ``ensure_bot_built``
first, so they never run a stale build; ``make setup`` builds it too.
"""

from __future__ import annotations

import fcntl
import subprocess
from collections.abc import Iterator
from pathlib import Path

TS = Path(__file__).resolve().parent.parent / "typescript"
MAIN = TS / "dist" / "main.js"
BUILD_TIMEOUT_S = 300.0


def _inputs() -> Iterator[Path]:
    yield from (TS / "src").rglob("*.ts")
    yield from (TS / name for name in ("tsconfig.json", "tsconfig.build.json", "package.json"))


def is_stale() -> bool:
    """Whether ``dist/main.js`` is missing or older than a source or build setting."""
    if not MAIN.exists():
        return True
    built = MAIN.stat().st_mtime
    return any(path.stat().st_mtime > built for path in _inputs())


def ensure_bot_built() -> None:
    """``npm run build`` in typescript/ when the build is stale (one builder at a time)."""
    with (TS / "tsconfig.build.json").open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_stale():
            return
        done = subprocess.run(
            ["npm", "run", "--silent", "build"],
            cwd=TS,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            MAIN.unlink(missing_ok=True)  # a half build is not a build
            raise RuntimeError(
                f"`npm run build` in {TS} failed (exit {done.returncode}); fix the error below "
                f"and run it again:\n{done.stdout}{done.stderr}"
            )
