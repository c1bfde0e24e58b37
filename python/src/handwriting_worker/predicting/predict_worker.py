"""``python -m handwriting_worker predict-worker``: answers ``/predict`` from its own queue.

Predictions never wait behind training: the bot pushes each ``digits.predict.v1`` onto
``PREDICT_QUEUE`` (a Redis list, not RQ), and any number of these workers pop them (BRPOP),
answer with ``PredictService`` (models kept loaded, reloaded when a manifest changes) and push
the ``digits.predict.result.v1`` onto the request's ``PREDICT_RESULT_KEY`` with an expiry, where
the bot waits for it. A request that breaks the schema is logged and dropped (it names no one
to answer). Redis errors are retried with backoff; SIGTERM finishes the request in hand.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

import torch
from redis import Redis
from redis.exceptions import RedisError

from handwriting_ai.contracts.names import PREDICT_QUEUE, PREDICT_RESULT_KEY
from handwriting_ai.predict_messages import (
    PredictMessageError,
    decode_predict_request,
    encode_predict_result,
)
from handwriting_ai.settings import SettingsError, load_settings
from handwriting_worker.predicting.predict_service import PredictService
from handwriting_worker.rq.queue_commands import RedisUnreachable, connect
from handwriting_worker.rq.rq_worker import setup_logging

log = logging.getLogger(__name__)

BLOCK_S = 1
"""A pop waits at most this long, so a stop is seen within about a second."""
RESULT_TTL_S = 60
"""A result nobody took (the bot gave up or died) is gone after this long."""
RETRY_CAP_S = 30.0


def result_key(user_id: int, request_id: str) -> str:
    """Where the result of one request goes (the bot's ``predictResultKey``)."""
    return PREDICT_RESULT_KEY.format(user_id=user_id, request_id=request_id)


class PredictWorker:
    """Pops requests from ``queue`` and answers each."""

    def __init__(
        self, service: PredictService, connection: Redis, queue: str = PREDICT_QUEUE
    ) -> None:
        self.service = service
        self.redis = connection
        self.queue = queue

    def handle(self, text: bytes | str) -> str:
        """Answers one request; what it did, for the log. Raises RedisError to retry."""
        try:
            request = decode_predict_request(text)
        except PredictMessageError as exc:
            return f"dropped: {exc}"
        result = self.service.answer(request)
        key = result_key(request["user_id"], request["request_id"])
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, encode_predict_result(result))
        pipe.expire(key, RESULT_TTL_S)
        pipe.execute()
        return f"{request['request_id']}: {result['outcome']}"

    def run(self, stop: threading.Event) -> None:
        """Works the queue until ``stop`` is set."""
        delay = 0.0
        log.info("predict worker reading %s", self.queue)
        while not stop.is_set():
            try:
                popped = self.redis.brpop([self.queue], timeout=BLOCK_S)
                if popped is not None:
                    log.info("predict %s", self.handle(popped[1]))
                delay = 0.0
            except RedisError as exc:
                delay = min(RETRY_CAP_S, max(0.5, 2 * delay))
                log.warning("predict worker: Redis failed (%s); again in %.1f s", exc, delay)
                stop.wait(delay)
        log.info("predict worker stopped")


def main() -> int:
    """The ``predict-worker`` command: exit 0 after SIGTERM or Ctrl-C, 1 when it cannot start."""
    try:
        settings = load_settings()
        connection = connect(settings)
    except (SettingsError, RedisUnreachable) as exc:
        print(f"predict-worker: {exc}", file=sys.stderr)
        return 1
    setup_logging()
    torch.set_num_threads(1)  # one prediction is small; leave the cores to training
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda signum, frame: stop.set())
    PredictWorker(PredictService(settings.digits.artifacts_root), connection).run(stop)
    return 0
