"""``tail --replay``: print the history from the event log, then follow it live.

Why the log and not the channel: Pub/Sub keeps nothing, the log (a Redis Stream) keeps every
event. The history is read with XRANGE from the first entry (or from ``--since`` ago), in
pages; following uses XREAD BLOCK from the last entry printed, so nothing is skipped or
printed twice between the two. A lost connection is reported on stderr and retried with a
doubling backoff (capped) until Redis answers; ``stop`` ends it within about ``poll_s``.
"""

from __future__ import annotations

import argparse
import re
import threading
import time
from typing import TextIO

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from handwriting_ai.events.eventlog import LogEntry, log_range, log_read
from handwriting_ai.settings import redact_url
from handwriting_worker.commands.tail import READ_MARGIN_S, format_message, say, wanted

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_PAGE = 500
_MAX_BACKOFF_S = 5.0


def parse_since(text: str) -> float:
    """``--since``: a duration such as 90s, 10m, 2h or 1d, in seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; use a positive number and a unit: "
            "s, m, h or d (for example 90s, 10m, 2h or 1d)"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


class _Printer:
    """Prints log entries under the filter, counting them."""

    def __init__(
        self, out: TextIO, *, raw: bool, request_id: str | None, count: int | None
    ) -> None:
        self.out, self.raw, self.request_id, self.count = out, raw, request_id, count
        self.printed = 0

    def done(self) -> bool:
        return self.count is not None and self.printed >= self.count

    def print(self, entries: list[LogEntry]) -> None:
        for _entry_id, text in entries:
            if self.done():
                return
            if wanted(text, self.request_id):
                self.out.write(format_message(text, raw=self.raw) + "\n")
                self.printed += 1
        self.out.flush()


def run_replay(
    url: str,
    stream: str,
    out: TextIO,
    err: TextIO,
    *,
    raw: bool = False,
    request_id: str | None = None,
    since_s: float | None = None,
    count: int | None = None,
    stop: threading.Event | None = None,
    poll_s: float = 0.5,
) -> int:
    """Prints the log's history then follows it, until ``count`` or ``stop``; exit status."""
    stop = stop or threading.Event()
    where = f"log {stream} at {redact_url(url)}"
    client = Redis.from_url(
        url,
        socket_connect_timeout=2.0,
        socket_timeout=poll_s + READ_MARGIN_S,  # above XREAD's BLOCK of poll_s
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    printer = _Printer(out, raw=raw, request_id=request_id, count=count)
    start = "-" if since_s is None else f"{int((time.time() - since_s) * 1000)}-0"
    after = "0-0" if since_s is None else start
    try:
        try:
            while True:
                page = log_range(client, stream, start, _PAGE)
                printer.print(page)
                if page:
                    after = page[-1][0]
                    start = "(" + after
                if len(page) < _PAGE or printer.done():
                    break
        except RedisError as exc:
            say(err, f"tail: cannot read the {where}: {exc}; start Redis or set REDIS_URL")
            return 1
        say(err, f"tail: replayed {printer.printed} event(s); following the {where}")
        _follow(client, stream, after, printer=printer, err=err, stop=stop, poll_s=poll_s)
    finally:
        client.close()
    return 0


def _follow(
    client: Redis,
    stream: str,
    after: str,
    *,
    printer: _Printer,
    err: TextIO,
    stop: threading.Event,
    poll_s: float,
) -> None:
    backoff = 0.1
    lost = False
    while not stop.is_set() and not printer.done():
        try:
            entries = log_read(client, stream, after, block_ms=int(poll_s * 1000))
        except RedisError as exc:
            if not lost:
                say(err, f"tail: lost the log: {exc}; reconnecting")
                lost = True
            stop.wait(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)
            continue
        if lost:
            say(err, "tail: reconnected, following the log")
            lost, backoff = False, 0.1
        printer.print(entries)
        if entries:
            after = entries[-1][0]
