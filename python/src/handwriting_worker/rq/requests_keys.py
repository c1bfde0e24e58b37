"""The names the bot and the intake share for requests that come from Discord.

The bot appends each ``/train`` (field ``request``: the ``digits.train.v1`` JSON text) and each
Cancel (field ``cancel``: ``{"request_id", "user_id", "by"}``) to ``DIGITS_REQUESTS_STREAM``;
before a Cancel it sets ``CANCEL_KEY`` (value: who cancelled, decimal), the one record of a
cancellation that the intake, the work horse and the reports all read. The Redis names are
generated from schemas/names.json; the field names are also in
``typescript/src/interactions/settings.ts``: change both together.
"""

from __future__ import annotations

import hashlib

from redis import Redis

from handwriting_ai.contracts import names
from handwriting_worker.training.job import user_of

REQUEST_FIELD = "request"
CANCEL_FIELD = "cancel"
CANCEL_KEY = names.CANCEL_KEY
"""Set (NX) by the bot when someone presses Cancel; the value is the canceller's user id."""


def job_id_for(user_id: int, request_id: str) -> str:
    """The RQ job id of a request: the same request always gets the same job, never another's.

    Hashed, so any request id (up to 128 characters of anything) makes a short, safe id.
    """
    digest = hashlib.sha256(f"{user_id}:{request_id}".encode()).hexdigest()
    return f"train-{digest[:32]}"


def cancel_key(user_id: int, request_id: str) -> str:
    return CANCEL_KEY.format(user_id=user_id, request_id=request_id)


def cancelled_by(connection: Redis, user_id: int, request_id: str) -> int:
    """Who cancelled this request (a user id), or 0 when nobody did."""
    value = connection.get(cancel_key(user_id, request_id))
    return user_of(value.decode() if isinstance(value, bytes) else None)


def cancel_text(by: int) -> str:
    """The fixed text of a cancelled job's failed event (error_kind user)."""
    return f"cancelled by user {by}"
