"""``make train`` in a terminal: readable lines above the bar, no JSON in the bar's line.

The command runs in a real pseudo-terminal (``pty``), stdout and stderr both on it as in a
shell. Without ``--json`` no JSON line reaches the terminal; with ``--json`` the JSON lines come
whole, one per line, and no bar is drawn between them. A pipe still gets the JSON lines exactly
as before (tests/test_worker_rq.py reads them).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.e2e_support import REPO, worker_env

ANSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


def _screen(output: str) -> list[str]:
    """The rows a terminal shows after ``output`` (scrollback kept): a small emulator of the
    sequences rich uses (CR, LF, cursor up, erase line); other sequences change nothing."""
    rows: list[list[str]] = [[]]
    row = col = 0
    pos = 0
    while pos < len(output):
        escape = ANSI.match(output, pos)
        if escape is not None:
            arg, code = escape.groups()
            if code == "A":
                row = max(row - int(arg or "1"), 0)
            elif code == "K":
                rows[row] = rows[row][:col] if arg in ("", "0") else []
            pos = escape.end()
            continue
        char = output[pos]
        pos += 1
        if char == "\r":
            col = 0
        elif char == "\n":
            row, col = row + 1, 0
            if row == len(rows):
                rows.append([])
        elif char.isprintable():
            line = rows[row]
            line.extend(" " * (col - len(line)))
            line[col : col + 1] = [char]
            col += 1
    return ["".join(line).rstrip() for line in rows]


def _train_in_a_terminal(tmp_path: Path, *extra: str) -> str:
    """All the terminal showed, escape sequences kept, ``\\r\\n`` as ``\\n``."""
    env = worker_env("redis://127.0.0.1:1/0", tmp_path, TRAIN__MAX_TRAIN_SAMPLES="256")
    env.pop("REDIS_URL")  # the main job on a fresh machine: no Redis
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    argv = [sys.executable, "-m", "handwriting_worker", "train", "--epochs", "1", *extra]
    child = subprocess.Popen(
        argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave
    )
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert child.wait(timeout=240) == 0, b"".join(chunks).decode(errors="replace")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


@pytest.mark.timeout(300)
def test_a_terminal_shows_readable_lines_and_no_json(tmp_path: Path) -> None:
    shown = _train_in_a_terminal(tmp_path)
    assert "━" in shown, "the bar was drawn"
    screen = "\n".join(_screen(shown))
    assert '{"type"' not in screen, screen
    assert re.search(r"^training digits: 1 epoch\(s\), run \S+$", screen, re.M), screen
    assert re.search(r"^epoch 1/1: val_acc \d.*ETA 0:00\)$", screen, re.M), screen
    assert re.search(r"^saved model to digits/ in the artifacts root$", screen, re.M), screen
    assert re.search(r"^completed: val_acc \d.*\(took \d+:\d\d\)$", screen, re.M), screen


@pytest.mark.timeout(300)
def test_json_on_a_terminal_comes_in_whole_lines_without_the_bar(tmp_path: Path) -> None:
    shown = _train_in_a_terminal(tmp_path, "--json")
    assert ANSI.search(shown) is None, "no bar is drawn between the JSON lines"
    lines = [line for line in _screen(shown) if line.startswith("{")]
    types = [json.loads(line)["type"] for line in lines]
    assert types[0] == "digits.train.started.v1" and types[-1] == "digits.train.completed.v1"
    assert re.search(r"^completed: val_acc \d", shown, re.M), shown
