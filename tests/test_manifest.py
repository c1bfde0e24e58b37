"""The manifest contract: what the trainer writes and the upload reads back is checked."""

from __future__ import annotations

import json

import pytest

from handwriting_ai.manifest import ManifestError, manifest_bytes, parse_manifest
from tests.manifests import valid_manifest


def test_bytes_are_sorted_indented_json_that_parses_back_to_the_same_manifest() -> None:
    data = manifest_bytes(valid_manifest())
    assert data.endswith(b"}\n")
    assert data == (json.dumps(valid_manifest(), indent=2, sort_keys=True) + "\n").encode()
    assert parse_manifest(data) == valid_manifest()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff", "not JSON: 'utf-8' codec can't decode"),
        (b"{", "not JSON: Expecting property name"),
        (b'{"val_acc": NaN}', "not JSON: $.val_acc: NaN is not a finite number"),
        (b"[]", "$: [] is not of type 'object'"),
        (b'{"format": 1}', "$: 'model_id' is a required property"),
    ],
)
def test_what_is_not_a_manifest_is_refused_naming_why(data: bytes, reason: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data)
    assert str(caught.value).startswith(f"invalid digits.manifest.v1: {reason}")


def test_a_field_the_schema_does_not_know_is_refused() -> None:
    data = json.dumps({**valid_manifest(), "momentum": 0.9}).encode()
    with pytest.raises(ManifestError, match="Additional properties are not allowed"):
        parse_manifest(data)


def test_a_wrong_value_is_refused_naming_the_field() -> None:
    manifest = valid_manifest()
    manifest["dataset"]["digest"] = "md5:0"
    with pytest.raises(ManifestError, match=r"\$.dataset.digest: 'md5:0' does not match"):
        manifest_bytes(manifest)
