"""The model manifest as a contract: ``schemas/digits.manifest.v1.json``, checked both ways.

The trainer builds a ``DigitsManifestV1`` (typed, so a missing or misspelt field fails type
checking) and ``manifest_bytes`` validates it against the schema before a byte is written; the
upload step reads the run's manifest back with ``parse_manifest`` and sends nothing that does
not conform. Errors name the field and the rule, as the event decoder's do.
"""

from __future__ import annotations

import json
from typing import TypeGuard

from jsonschema import Draft202012Validator

from handwriting_ai.contracts import DigitsManifestV1
from handwriting_ai.contracts.names import MANIFEST_V1
from handwriting_ai.events import json_numbers
from handwriting_ai.events.codec import explain
from handwriting_ai.events.schemas import validator_for

MANIFEST_FILE = "manifest.json"
"""The active run's manifest in a model's folder (``manifest-<run_id>.json``: each run's)."""


class ManifestError(ValueError):
    """A manifest that breaks its schema (or is not JSON); the text says where and why."""


def _conforms(value: object, validator: Draft202012Validator) -> TypeGuard[DigitsManifestV1]:
    return validator.is_valid(value)


def validate_manifest(value: object) -> DigitsManifestV1:
    """``value`` as a manifest, or ``ManifestError`` naming the first broken rule."""
    validator = validator_for(MANIFEST_V1)
    if _conforms(value, validator):
        return value
    raise ManifestError(f"invalid {MANIFEST_V1}: {explain(validator.iter_errors(value))}")


def manifest_bytes(manifest: DigitsManifestV1) -> bytes:
    """The file's bytes (sorted keys, two-space indent), once the manifest is validated.

    A NaN or infinite float raises ``ValueError`` (strict JSON has none) before validation,
    which would let a NaN through every bound.
    """
    text = json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n"
    validate_manifest(manifest)
    return text.encode()


def parse_manifest(data: bytes) -> DigitsManifestV1:
    """A manifest file's bytes, read by the shared number rule, then validated."""
    try:
        value = json_numbers.loads(data.decode("utf-8"))
    except ValueError as exc:  # also UnicodeDecodeError and NonFiniteNumber
        raise ManifestError(f"invalid {MANIFEST_V1}: not JSON: {exc}") from exc
    return validate_manifest(value)
