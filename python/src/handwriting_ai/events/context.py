"""What every event of a job carries, and the rules that make a value fit its schema.

The generated builders (``handwriting_ai.contracts.builders``) take a ``JobContext`` and run
each field through one of these functions (which one: ``codegen/builders.py``'s rules).
Floats never make a builder raise (an event must not stop training) and always come out
finite and inside the schema's range, because JSON has no NaN or Infinity:

- probabilities (accuracies) are clamped to [0, 1]; NaN becomes 0.0;
- losses: NaN and +inf become ``LOSS_DIVERGED`` (the largest float: a diverged loss stays
  visibly huge instead of looking like a perfect 0); negatives become 0.0;
- other non-negative measures (seconds, samples per second): NaN and negatives become 0.0,
  +inf becomes the largest float.

Identifiers are checked once, when the ``JobContext`` is made. A failure message is made one
line of at most 2000 characters, as the schema asks.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from handwriting_ai.contracts import DigitsTrainV1

LOSS_DIVERGED = sys.float_info.max
"""What a NaN or infinite loss is published as."""

MAX_ID_LENGTH = 128
MAX_USER_ID = 2**63 - 1
MAX_MESSAGE_LENGTH = 2000


def utc_timestamp(at: datetime | None = None) -> str:
    """``at`` (default now) as RFC 3339 in UTC with a ``Z``: 2026-11-28T16:00:00.123456Z."""
    moment = datetime.now(UTC) if at is None else at
    if moment.tzinfo is None:
        raise ValueError(
            f"utc_timestamp: {moment!r} has no time zone; pass an aware datetime "
            "(datetime.now(UTC)) so the event's time is unambiguous"
        )
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_id(name: str, value: str) -> None:
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise ValueError(
            f"JobContext.{name}: {value[:40]!r} has {len(value)} characters; "
            f"it must have 1 to {MAX_ID_LENGTH}"
        )


@dataclass(frozen=True, slots=True)
class JobContext:
    """What every event of one job carries. ``run_id`` is None until the run has one."""

    request_id: str
    user_id: int
    model_id: str
    run_id: str | None = None

    def __post_init__(self) -> None:
        _check_id("request_id", self.request_id)
        _check_id("model_id", self.model_id)
        if self.run_id is not None:
            _check_id("run_id", self.run_id)
        if isinstance(self.user_id, bool) or not 0 <= self.user_id <= MAX_USER_ID:
            raise ValueError(
                f"JobContext.user_id: {self.user_id!r} is not a Discord user id; "
                f"it must be an integer from 0 to {MAX_USER_ID}"
            )

    @classmethod
    def from_request(cls, request: DigitsTrainV1, run_id: str | None = None) -> JobContext:
        """The context of the job a validated request asks for."""
        return cls(request["request_id"], request["user_id"], request["model_id"], run_id)

    def with_run(self, run_id: str) -> JobContext:
        """This context once the run has its id."""
        return replace(self, run_id=run_id)


def probability(value: float) -> float:
    """``value`` clamped to [0, 1]; NaN becomes 0.0."""
    if math.isnan(value):
        return 0.0
    return min(max(float(value), 0.0), 1.0)


def loss(value: float) -> float:
    """A finite loss >= 0: NaN and +inf become ``LOSS_DIVERGED``, negatives 0.0."""
    if math.isnan(value):
        return LOSS_DIVERGED
    return min(max(float(value), 0.0), LOSS_DIVERGED)


def non_negative(value: float) -> float:
    """A finite measure >= 0: NaN and negatives become 0.0, +inf the largest float."""
    if math.isnan(value):
        return 0.0
    return min(max(float(value), 0.0), sys.float_info.max)


def one_line(message: str) -> str:
    """``message`` as one line of 1 to 2000 characters."""
    text = " ".join(message.split())
    if not text:
        return "unknown error"
    if len(text) > MAX_MESSAGE_LENGTH:
        return text[: MAX_MESSAGE_LENGTH - 3] + "..."
    return text
