"""The light commands never import torch: an intake or tail replica costs tens of MB, not 1 GB.

``--help``, ``tail``, ``intake`` and ``enqueue`` each run in a fresh interpreter, for real (against
a private Redis where they need one), and report which heavy modules they loaded. Their start
time and memory are measured by ``bench/light_commands.py`` (``make bench-light``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import RedisServer

HEAVY = ("torch", "torchvision", "numpy")

# Runs the CLI in-process (as `python -m handwriting_worker` would), then prints what it loaded.
_PROBE = textwrap.dedent(
    """
    import json, signal, sys, threading, time
    from handwriting_worker.commands.cli import main

    def stop_once_started():  # long-running: SIGTERM once its handler is in place
        while signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            time.sleep(0.05)
        time.sleep(0.5)
        signal.raise_signal(signal.SIGTERM)

    if sys.argv[1] in ("tail", "intake"):
        threading.Thread(target=stop_once_started, daemon=True).start()
    try:
        status = main(sys.argv[1:])
    except SystemExit as exc:
        status = exc.code
    heavy = [name for name in HEAVY if name in sys.modules]
    print(json.dumps({"status": status, "heavy": heavy}))
    """
).replace("HEAVY", repr(HEAVY))


def _loaded(args: list[str], redis_url: str) -> dict[str, object]:
    env = dict(os.environ, REDIS_URL=redis_url, RQ__QUEUE="light-test")
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: object = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(result, dict)
    return result


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["enqueue", "--help"],
        ["enqueue", "--user-id", "1", "--epochs", "1"],
        ["tail", "--count", "1"],
        ["tail", "--replay"],
        ["intake"],
    ],
    ids=" ".join,
)
def test_light_commands_do_not_import_torch(args: list[str], redis_server: RedisServer) -> None:
    result = _loaded(args, redis_server.url)
    assert result["heavy"] == [], f"{' '.join(args)} imported {result['heavy']}"
    assert result["status"] in (0, None), result


@pytest.mark.timeout(300)
def test_evaluate_help_does_not_import_torch_either(redis_server: RedisServer) -> None:
    """Only running a model needs torch: `evaluate --help` and `predict --help` do not."""
    for command in ("evaluate", "predict", "train"):
        assert _loaded([command, "--help"], redis_server.url)["heavy"] == [], command
