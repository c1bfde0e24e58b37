"""``Spool``: lifecycle events Redis could not take, kept on local disk until it answers again.

Why: a job that ends while Redis is down must still reach its final state in Discord. At
close, the background publisher hands the events it could not deliver (never batch events)
to ``save``: one file per close, one event's exact JSON text per line, written to a temporary
name, fsynced and renamed, so a crash leaves the whole file or none of it. File names sort
in the order they were written.

``deliver`` sends the files, oldest first and each in line order, through ``send`` (the
Redis sink's PUBLISH+XADD). A file is claimed by renaming it (only one process wins the
rename), removed once every line was sent, and put back with the lines not yet sent when
``send`` fails. A crash between a send and the removal sends those lines again: delivery is
at least once, which is safe because the bot folds events idempotently. A claim left by a
process that no longer runs is taken back on the next ``deliver``.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

_SUFFIX = ".jsonl"
_CLAIMED = ".claimed-"
_sequence = itertools.count()


def _write_atomic(path: Path, lines: Sequence[str]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as file:
        file.write("".join(line + "\n" for line in lines))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's live process
        return True
    return True


def pending(directory: Path) -> list[Path]:
    """The files waiting in ``directory``, oldest first (claims of dead processes freed)."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    waiting: list[Path] = []
    for entry in names:
        name, claimed, pid = entry.partition(_CLAIMED)
        if claimed and pid.isdigit() and not _alive(int(pid)):
            try:
                os.replace(directory / entry, directory / name)
            except FileNotFoundError:
                continue  # another process freed it first
        elif claimed:
            continue  # a live process is delivering it
        if name.endswith(_SUFFIX) and not name.startswith("."):
            waiting.append(directory / name)
    return waiting


class Spool:
    """A folder of undelivered events; ``send`` publishes one event's JSON text."""

    def __init__(self, directory: Path, send: Callable[[str], object]) -> None:
        self.directory = directory
        self._send = send

    def save(self, texts: Sequence[str]) -> Path | None:
        """Writes ``texts`` as one new file, atomically; None when there is nothing to save."""
        if not texts:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid():08d}-{next(_sequence):06d}{_SUFFIX}"
        path = self.directory / name
        _write_atomic(path, texts)
        log.warning("spooled %d undelivered event(s) to %s", len(texts), path)
        return path

    def pending(self) -> list[Path]:
        """The files waiting for delivery, oldest first (claims of dead processes freed)."""
        return pending(self.directory)

    def deliver(self, stop: Callable[[], bool] = lambda: False) -> bool:
        """Sends every waiting file in order; False when ``send`` failed (the rest waits)."""
        for path in self.pending():
            if stop():
                return False
            claimed = path.with_name(f"{path.name}{_CLAIMED}{os.getpid()}")
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # another process is delivering it
            lines = claimed.read_text(encoding="utf-8").splitlines()
            for index, line in enumerate(lines):
                try:
                    self._send(line)
                except Exception as exc:  # the sink's errors; the rest waits for next time
                    _write_atomic(path, lines[index:])
                    claimed.unlink()
                    log.info("spool delivery from %s paused: %s", path, exc)
                    return False
            claimed.unlink()
            log.info("delivered %d spooled event(s) from %s", len(lines), path)
        return True
