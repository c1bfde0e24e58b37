"""``CancelWatch``: the work horse reads its job's Cancel record while it trains.

Why: a running job is stopped by RQ's stop-job command, a Pub/Sub message. One that reaches
no worker (PUBLISH answered 0, the worker's subscription was reconnecting) is lost, and the
job would train to the end although its user pressed Cancel. The Cancel record
(``requests_keys.CANCEL_KEY``) stays, so the horse reads it itself: a thread GETs it every
``interval_s`` seconds (short timeouts, errors only skip a poll: never the trainer's thread,
never a stall), and the trainer asks ``message()`` at each batch and epoch event.
"""

from __future__ import annotations

import logging
import threading

from redis import Redis
from redis.exceptions import RedisError

from handwriting_worker.rq.requests_keys import cancel_text, cancelled_by

log = logging.getLogger(__name__)

POLL_S = 1.0


class CancelWatch:
    """Polls one job's Cancel record in a daemon thread until ``close``."""

    def __init__(
        self, url: str, user_id: int, request_id: str, *, interval_s: float = POLL_S
    ) -> None:
        self._client = Redis.from_url(
            url, socket_connect_timeout=interval_s, socket_timeout=interval_s
        )
        self._user_id = user_id
        self._request_id = request_id
        self._interval_s = interval_s
        self._by = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cancel-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                by = cancelled_by(self._client, self._user_id, self._request_id)
            except RedisError as exc:  # Redis away: the next poll tries again
                log.debug("cancel watch: %s", exc)
                continue
            if by:
                self._by = by
                log.info("job %r: cancelled by user %d (its record)", self._request_id, by)
                return

    def message(self) -> str | None:
        """The failed event's text once the job was cancelled, else None (no I/O here)."""
        return cancel_text(self._by) if self._by else None

    def close(self) -> None:
        """Stops polling and closes the client."""
        self._stop.set()
        self._thread.join(self._interval_s * 2 + 1)
        self._client.close()
