"""The job-request options that ``enqueue`` and ``train`` share, and the request they make."""

from __future__ import annotations

import argparse
import uuid

from handwriting_ai.archs import ARCHS
from handwriting_ai.contracts import names
from handwriting_ai.contracts.names import REQUEST_V1
from handwriting_ai.events.schemas import numeric_bounds

# The request schema's defaults (its `default`s, generated into contracts/names.py), tuned so
# that `make train` reaches >= 98.5% on the offline digits within 30 s on 2 cores.
DEFAULTS = {
    "epochs": names.REQUEST_V1_DEFAULT_EPOCHS,
    "batch_size": names.REQUEST_V1_DEFAULT_BATCH_SIZE,
    "lr": names.REQUEST_V1_DEFAULT_LR,
    "seed": names.REQUEST_V1_DEFAULT_SEED,
    "model_id": names.REQUEST_V1_DEFAULT_MODEL_ID,
}
AUGMENT_DEFAULT = names.REQUEST_V1_DEFAULT_AUGMENT


def add_request_options(parser: argparse.ArgumentParser, *, user_required: bool = False) -> None:
    """Options of a ``digits.train.v1`` request; bounds are checked by the schema.

    ``user_required``: a queued job is shown to its user, so ``enqueue`` needs a real one.
    """
    group = parser.add_argument_group(
        f"the request ({REQUEST_V1}; bounds: {numeric_bounds(REQUEST_V1)})"
    )
    group.add_argument(
        "--epochs", type=int, default=DEFAULTS["epochs"], help="default: %(default)s"
    )
    group.add_argument(
        "--batch-size", type=int, default=DEFAULTS["batch_size"], help="default: %(default)s"
    )
    group.add_argument(
        "--lr", type=float, default=DEFAULTS["lr"], help="peak learning rate; default: %(default)s"
    )
    group.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="default: %(default)s")
    group.add_argument(
        "--model-id",
        default=DEFAULTS["model_id"],
        help="letters, digits, '.', '_' or '-'; names the artifacts folder; default: %(default)s",
    )
    if user_required:
        group.add_argument(
            "--user-id",
            type=int,
            required=True,
            help="Discord user to notify (a snowflake); required: the job is shown to this user",
        )
    else:
        group.add_argument(
            "--user-id",
            type=int,
            default=0,
            help="Discord user to notify (a snowflake); default: 0",
        )
    group.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=AUGMENT_DEFAULT,
        help="small random rotations and shifts of the training digits; default: %(default)s",
    )
    group.add_argument("--notes", default=None, help="free text kept with the request")
    group.add_argument(
        "--request-id", default=None, help="default: a new random id (shown when it starts)"
    )


def add_arch_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--arch", choices=ARCHS, default=None, help="model architecture (default: TRAIN__ARCH, cnn)"
    )


def request_from_args(args: argparse.Namespace) -> dict[str, object]:
    """The request the options describe (not yet validated)."""
    request_id: object = args.request_id
    return {
        "type": REQUEST_V1,
        "request_id": request_id if isinstance(request_id, str) else uuid.uuid4().hex,
        "user_id": args.user_id,
        "model_id": args.model_id,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "augment": bool(args.augment),
        "notes": args.notes,
    }
