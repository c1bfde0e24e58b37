"""make check-compat / make lock-schemas: a breaking change to a published schema is caught.

Each rule test copies the real schemas, applies one change and expects the rule named.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from codegen import compat
from codegen.json_types import JsonObject, JsonValue
from codegen.schema_index import SCHEMAS_DIR

Edit = Callable[[JsonObject], object]


def obj(value: JsonValue) -> JsonObject:
    assert isinstance(value, dict)
    return value


def arr(value: JsonValue) -> list[JsonValue]:
    assert isinstance(value, list)
    return value


def props(schema: JsonObject) -> JsonObject:
    return obj(schema["properties"])


def prop(schema: JsonObject, name: str) -> JsonObject:
    return obj(props(schema)[name])


def defs(common: JsonObject, name: str) -> JsonObject:
    return obj(obj(common["$defs"])[name])


class Repo:
    """A copy of schemas/ (with the committed lock) to change and check."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "schemas"
        shutil.copytree(SCHEMAS_DIR, self.dir)
        self.lock = self.dir / "lock.json"

    def edit(self, file: str, change: Edit) -> None:
        path = self.dir / file
        data = obj(json.loads(path.read_text()))
        change(data)
        path.write_text(json.dumps(data, indent=2) + "\n")

    def check(self) -> compat.CheckResult:
        return compat.check(self.dir, self.lock)

    def lines(self) -> list[str]:
        return [str(p) for p in self.check().problems]

    def relock_with(self, file: str, change: Edit) -> None:
        """Locks a variant of ``file`` (so the unchanged real file is the one change)."""
        original = (self.dir / file).read_text()
        self.edit(file, change)
        compat.write_lock(self.dir, self.lock, force=True)
        (self.dir / file).write_text(original)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def rules(result: compat.CheckResult) -> set[tuple[str, str | None, str]]:
    return {(p.message, p.field, p.rule) for p in result.problems}


BATCH = "digits.train.batch.v1.json"
REQUEST = "digits.train.v1.json"


# --- the committed lock -----------------------------------------------------------------


def test_committed_lock_matches_the_schemas() -> None:
    result = compat.check()
    assert result.problems == []


def test_committed_lock_covers_every_message_including_request_and_legacy() -> None:
    locked = compat.read_lock(compat.LOCK_FILE)
    assert {"digits.train.v1", "digits.train.batch.v1", "started", "progress"} <= set(locked)
    assert set(locked) == set(compat.current_entries(SCHEMAS_DIR))


def test_lock_is_deterministic_and_sorted(repo: Repo, tmp_path: Path) -> None:
    other = tmp_path / "again.json"
    compat.write_lock(repo.dir, other)
    text = other.read_text()
    assert text.endswith("}\n")
    assert text == compat.render_lock(compat.current_entries(repo.dir))
    data = obj(json.loads(text))
    assert list(obj(data["messages"])) == sorted(obj(data["messages"]))
    # Descriptions and titles do not survive normalisation; refs to common.json are inlined.
    assert '"description"' not in text and '"title"' not in text and "$ref" not in text
    batch = obj(obj(obj(data["messages"])["digits.train.batch.v1"])["schema"])
    assert prop(batch, "user_id")["maximum"] == 2**63 - 1
    assert "request_id" in arr(batch["required"])


# --- one test per rule ------------------------------------------------------------------


def test_message_removed(repo: Repo) -> None:
    (repo.dir / "digits.train.prune.v1.json").unlink()
    assert repo.lines() == [
        "digits.train.prune.v1: message removed (was digits.train.prune.v1.json) "
        "(rule: message-removed)"
    ]


def test_type_const_changed(repo: Repo) -> None:
    repo.edit(BATCH, lambda s: prop(s, "type").update(const="digits.train.batches.v1"))
    result = repo.check()
    assert rules(result) == {("digits.train.batch.v1", None, "type-const-changed")}
    # The renamed type is the same message, not announced as a new one.
    assert result.notes == []


def test_property_removed(repo: Repo) -> None:
    def change(s: JsonObject) -> None:
        del props(s)["batch_loss"]
        arr(s["required"]).remove("batch_loss")

    repo.edit(BATCH, change)
    assert repo.lines() == [
        "digits.train.batch.v1: field batch_loss: property removed (rule: property-removed)"
    ]


def test_property_renamed(repo: Repo) -> None:
    def change(s: JsonObject) -> None:
        props(s)["loss"] = props(s).pop("batch_loss")
        arr(s["required"]).remove("batch_loss")
        arr(s["required"]).append("loss")

    repo.edit(BATCH, change)
    assert repo.lines() == [
        "digits.train.batch.v1: field batch_loss: renamed to loss (rule: property-renamed)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "text"),
    [
        ("integer", "number", "type changed from integer to number"),
        ("integer", ["integer", "string"], "type changed from integer to integer|string"),
        ("integer", None, "type changed from integer to any"),
    ],
)
def test_type_changed(repo: Repo, old: str, new: JsonValue, text: str) -> None:
    def change(s: JsonObject) -> None:
        assert prop(s, "epoch")["type"] == old
        if new is None:
            del prop(s, "epoch")["type"]
        else:
            prop(s, "epoch")["type"] = new

    repo.edit(BATCH, change)
    assert repo.lines() == [f"digits.train.batch.v1: field epoch: {text} (rule: type-changed)"]


def test_required_removed(repo: Repo) -> None:
    repo.edit(BATCH, lambda s: arr(s["required"]).remove("epoch"))
    assert repo.lines() == [
        "digits.train.batch.v1: field epoch: no longer required (rule: required-removed)"
    ]


def test_required_added(repo: Repo) -> None:
    # Lock a batch.v1 where epoch was optional: the real one makes it required.
    repo.relock_with(BATCH, lambda s: arr(s["required"]).remove("epoch"))
    assert repo.lines() == [
        "digits.train.batch.v1: field epoch: became required (rule: required-added)"
    ]


def test_required_name_without_property(repo: Repo) -> None:
    repo.edit(BATCH, lambda s: arr(s["required"]).append("ghost"))
    assert rules(repo.check()) == {("digits.train.batch.v1", "ghost", "required-added")}
    compat.write_lock(repo.dir, repo.lock, force=True)
    repo.edit(BATCH, lambda s: arr(s["required"]).remove("ghost"))
    assert rules(repo.check()) == {("digits.train.batch.v1", "ghost", "required-removed")}


def test_nullability_added(repo: Repo) -> None:
    repo.edit(BATCH, lambda s: prop(s, "batch_loss").update(type=["number", "null"]))
    assert repo.lines() == [
        "digits.train.batch.v1: field batch_loss: became nullable (rule: nullability-added)"
    ]


def test_nullability_removed(repo: Repo) -> None:
    repo.edit(REQUEST, lambda s: prop(s, "notes").update(type="string"))
    assert repo.lines() == [
        "digits.train.v1: field notes: no longer nullable (rule: nullability-removed)"
    ]


def test_nullability_removed_in_common_is_seen_by_every_event(repo: Repo) -> None:
    repo.edit("common.json", lambda c: defs(c, "RunId").update(type="string"))
    found = rules(repo.check())
    users = {m.removesuffix(".json") for m in _event_files()} | {"digits.predict.result.v1"}
    assert found == {(e, "run_id", "nullability-removed") for e in users}
    assert len(found) == 10


def _event_files() -> list[str]:
    return [p.name for p in SCHEMAS_DIR.glob("digits.train.*.v1.json")]


def test_enum_value_added(repo: Repo) -> None:
    repo.edit("common.json", lambda c: arr(defs(c, "ErrorKind")["enum"]).append("timeout"))
    assert sorted(repo.lines()) == [
        'digits.train.failed.v1: field error_kind: enum value "timeout" added '
        "(rule: enum-value-added)",
        'failed: field error_kind: enum value "timeout" added (rule: enum-value-added)',
    ]


def test_enum_value_removed(repo: Repo) -> None:
    repo.edit("common.json", lambda c: arr(defs(c, "ErrorKind")["enum"]).remove("user"))
    assert rules(repo.check()) == {
        ("digits.train.failed.v1", "error_kind", "enum-value-removed"),
        ("failed", "error_kind", "enum-value-removed"),
    }


def test_bound_tightened_names_message_field_and_rule(repo: Repo) -> None:
    repo.edit(BATCH, lambda s: prop(s, "batch_loss").update(minimum=1))
    assert repo.lines() == [
        "digits.train.batch.v1: field batch_loss: minimum tightened from 0 to 1 "
        "(rule: bound-tightened)"
    ]


@pytest.mark.parametrize(
    ("file", "field", "keyword", "value", "text"),
    [
        ("digits.train.upload.v1.json", "status", "maximum", 499, "maximum tightened"),
        (REQUEST, "lr", "exclusiveMinimum", 0.001, "exclusiveMinimum tightened"),
        (REQUEST, "lr", "exclusiveMaximum", 1, "exclusiveMaximum 1 added"),
        ("digits.train.failed.v1.json", "message", "minLength", 5, "minLength tightened"),
        ("digits.train.failed.v1.json", "message", "maxLength", 1000, "maxLength tightened"),
        ("digits.train.artifact.v1.json", "path", "format", "uri", 'format "uri" added'),
        ("digits.train.artifact.v1.json", "path", "pattern", "^/", 'pattern "^/" added'),
        (REQUEST, "model_id", "pattern", "^[a-z]+$", "pattern changed from"),
    ],
)
def test_bound_tightened(
    repo: Repo, file: str, field: str, keyword: str, value: JsonValue, text: str
) -> None:
    repo.edit(file, lambda s: prop(s, field).update({keyword: value}))
    (line,) = repo.lines()
    assert f"field {field}: {text}" in line
    assert line.endswith("(rule: bound-tightened)")


def test_bound_tightened_in_common_is_seen_by_every_message_using_it(repo: Repo) -> None:
    repo.edit("common.json", lambda c: defs(c, "Timestamp").update(format="date"))
    found = rules(repo.check())
    # The manifest's created_at is a Timestamp, and so is a prediction result's ts.
    users = [*_event_files(), "digits.manifest.v1.json", "digits.predict.result.v1.json"]
    assert {m for m, _, _ in found} == {f.removesuffix(".json") for f in users}
    assert {(f, r) for _, f, r in found} == {(f, "bound-tightened") for f in ("ts", "created_at")}


@pytest.mark.parametrize(
    ("file", "field", "change", "text"),
    [
        ("digits.train.upload.v1.json", "status", {"maximum": 999}, "maximum relaxed"),
        (BATCH, "epoch", {"minimum": 0}, "minimum relaxed from 1 to 0"),
        (REQUEST, "model_id", {"pattern": None}, "pattern "),
    ],
)
def test_bound_relaxed(
    repo: Repo, file: str, field: str, change: dict[str, JsonValue], text: str
) -> None:
    def apply(s: JsonObject) -> None:
        for key, value in change.items():
            if value is None:
                del prop(s, field)[key]
            else:
                prop(s, field)[key] = value

    repo.edit(file, apply)
    (line,) = repo.lines()
    assert f"field {field}: {text}" in line
    assert line.endswith("(rule: bound-relaxed)")


def test_new_required_property(repo: Repo) -> None:
    def change(s: JsonObject) -> None:
        props(s)["lr"] = {"type": "number", "minimum": 0}
        arr(s["required"]).append("lr")

    repo.edit(BATCH, change)
    assert repo.lines() == [
        "digits.train.batch.v1: field lr: new required property (rule: new-required-property)"
    ]


def test_new_optional_property_is_breaking_too(repo: Repo) -> None:
    repo.edit(BATCH, lambda s: props(s).update(lr={"type": "number"}))
    assert repo.lines() == [
        "digits.train.batch.v1: field lr: new optional property (rule: property-added)"
    ]


@pytest.mark.parametrize(
    ("value", "word"),
    [(True, "relaxed"), (None, "relaxed"), ({"type": "string"}, "relaxed")],
)
def test_unevaluated_properties_relaxed(repo: Repo, value: JsonValue, word: str) -> None:
    def change(s: JsonObject) -> None:
        if value is None:
            del s["unevaluatedProperties"]
        else:
            s["unevaluatedProperties"] = value

    repo.edit(BATCH, change)
    (line,) = repo.lines()
    assert line.startswith(f"digits.train.batch.v1: unevaluatedProperties {word} from false")
    assert line.endswith("(rule: additional-properties-changed)")


def test_additional_properties_tightened(repo: Repo) -> None:
    repo.relock_with(REQUEST, lambda s: s.update(additionalProperties={"type": "string"}))
    assert repo.lines() == [
        'digits.train.v1: additionalProperties tightened from {"type":["string"]} to false '
        "(rule: additional-properties-changed)"
    ]


def test_additional_properties_schema_changed(repo: Repo) -> None:
    repo.relock_with(REQUEST, lambda s: s.update(additionalProperties={"type": "string"}))
    repo.edit(REQUEST, lambda s: s.update(additionalProperties={"type": "integer"}))
    (line,) = repo.lines()
    assert "additionalProperties changed from" in line


def test_closure_keyword_swapped_on_a_message_with_a_base(repo: Repo) -> None:
    # additionalProperties does not see the base's properties: a different schema entirely.
    def change(s: JsonObject) -> None:
        del s["unevaluatedProperties"]
        s["additionalProperties"] = False

    repo.edit(BATCH, change)
    found = {r for _, _, r in rules(repo.check())}
    assert {"additional-properties-changed", "keyword-changed"} <= found


def test_const_changed_on_a_field(repo: Repo) -> None:
    repo.edit(BATCH, lambda s: prop(s, "total_epochs").update(const=10))
    assert repo.lines() == [
        "digits.train.batch.v1: field total_epochs: const changed from null to 10 "
        "(rule: const-changed)"
    ]


@pytest.mark.parametrize(
    ("field", "change", "text"),
    [
        ("epoch", {"multipleOf": 2}, "multipleOf changed from null to 2"),
        ("epoch", {"enum": [1, 2]}, "enum added"),
        ("epoch", {"minimum": "1"}, 'minimum changed from 1 to "1"'),
    ],
)
def test_other_keywords_changed(
    repo: Repo, field: str, change: dict[str, JsonValue], text: str
) -> None:
    repo.edit(BATCH, lambda s: prop(s, field).update(change))
    assert repo.lines() == [f"digits.train.batch.v1: field {field}: {text} (rule: keyword-changed)"]
    # Once locked, the same keyword unchanged passes.
    compat.write_lock(repo.dir, repo.lock, force=True)
    assert repo.lines() == []


def test_enum_removed(repo: Repo) -> None:
    repo.edit("common.json", lambda c: defs(c, "ErrorKind").pop("enum"))
    assert "enum removed (rule: keyword-changed)" in repo.lines()[0]


def test_boolean_schema_replacing_a_property(repo: Repo) -> None:
    repo.edit(BATCH, lambda s: props(s).update(epoch=True))
    (line,) = repo.lines()
    assert line.startswith("digits.train.batch.v1: field epoch: schema changed from {")
    assert line.endswith("to true (rule: keyword-changed)")
    compat.write_lock(repo.dir, repo.lock, force=True)
    assert repo.lines() == []


def test_id_changed(repo: Repo) -> None:
    repo.edit(BATCH, lambda s: s.update({"$id": "https://elsewhere.example/batch.json"}))
    assert rules(repo.check()) == {("digits.train.batch.v1", None, "id-changed")}


def test_file_renamed(repo: Repo) -> None:
    (repo.dir / "legacy.started.json").rename(repo.dir / "legacy.begun.json")
    assert rules(repo.check()) == {("started", None, "file-renamed")}


# --- what passes -------------------------------------------------------------------------


def test_description_and_example_edits_pass_with_the_same_digest(repo: Repo) -> None:
    def change(s: JsonObject) -> None:
        s["description"] = "Reworded."
        s["title"] = "Renamed"
        prop(s, "batch_loss")["description"] = "Reworded too."
        prop(s, "batch_loss")["examples"] = [0.5]
        s["$comment"] = "why"

    before = compat.current_entries(repo.dir)["digits.train.batch.v1"].digest
    repo.edit(BATCH, change)
    repo.edit("common.json", lambda c: defs(c, "UserId").update(description="Who."))
    assert compat.current_entries(repo.dir)["digits.train.batch.v1"].digest == before
    result = repo.check()
    assert result.problems == [] and result.notes == []


def test_equivalent_spelling_passes(repo: Repo) -> None:
    # A one-element type list, reordered required, the base inlined instead of referenced.
    common = obj(json.loads((repo.dir / "common.json").read_text()))

    def change(s: JsonObject) -> None:
        prop(s, "epoch")["type"] = ["integer"]
        arr(s["required"]).reverse()
        base = defs(common, "EventV1Base")
        del s["allOf"]
        props(s).update(obj(base["properties"]))
        arr(s["required"]).extend(arr(base["required"]))

    repo.edit(BATCH, change)
    assert repo.check().problems == []


def test_non_breaking_annotation_passes_and_says_the_lock_can_be_refreshed(repo: Repo) -> None:
    repo.edit(BATCH, lambda s: prop(s, "avg_loss").update(deprecated=True))
    result = repo.check()
    assert result.problems == []
    assert result.notes == [
        "digits.train.batch.v1: changed without breaking it; "
        "the lock can be refreshed with `make lock-schemas`"
    ]
    assert compat.write_lock(repo.dir, repo.lock).problems == []
    assert repo.check().notes == []


def test_v2_beside_v1_is_an_addition(repo: Repo) -> None:
    v2 = obj(json.loads((repo.dir / BATCH).read_text()))
    v2["$id"] = str(v2["$id"]).replace(".v1.", ".v2.")
    v2["title"] = "DigitsTrainBatchV2"
    prop(v2, "type")["const"] = "digits.train.batch.v2"
    props(v2)["lr"] = {"type": "number", "exclusiveMinimum": 0}
    arr(v2["required"]).append("lr")
    (repo.dir / "digits.train.batch.v2.json").write_text(json.dumps(v2, indent=2))
    result = repo.check()
    assert result.problems == []
    assert result.notes == [
        "digits.train.batch.v2: new message (digits.train.batch.v2.json), not yet locked; "
        "run `make lock-schemas` to publish it"
    ]
    assert compat.write_lock(repo.dir, repo.lock).problems == []
    assert "digits.train.batch.v2" in compat.read_lock(repo.lock)
    assert repo.check() == compat.CheckResult()


# --- lock ----------------------------------------------------------------------------------


def test_lock_refuses_over_breaking_changes_unless_forced(repo: Repo) -> None:
    before = repo.lock.read_text()
    repo.edit(BATCH, lambda s: prop(s, "batch_loss").update(minimum=1))
    refused = compat.write_lock(repo.dir, repo.lock)
    assert rules(refused) == {("digits.train.batch.v1", "batch_loss", "bound-tightened")}
    assert repo.lock.read_text() == before
    forced = compat.write_lock(repo.dir, repo.lock, force=True)
    assert forced.problems == refused.problems
    assert repo.lock.read_text() != before
    assert repo.check().problems == []


def test_lock_creates_a_missing_lock(repo: Repo) -> None:
    repo.lock.unlink()
    assert compat.write_lock(repo.dir, repo.lock) == compat.CheckResult()
    assert set(compat.read_lock(repo.lock)) == set(compat.current_entries(repo.dir))
    assert repo.check() == compat.CheckResult()


# --- what cannot be read --------------------------------------------------------------------


def test_missing_lock_is_an_error(repo: Repo) -> None:
    repo.lock.unlink()
    with pytest.raises(compat.CompatError, match="no lock; run `make lock-schemas`"):
        repo.check()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.update(lock_version=2), "lock_version must be 1"),
        (lambda d: d.update(messages=[]), "expected an object"),
        (
            lambda d: obj(obj(obj(d["messages"])["started"])["schema"]).update(type="string"),
            "messages.started: digest does not match",
        ),
    ],
)
def test_damaged_lock_is_an_error(repo: Repo, change: Edit, match: str) -> None:
    data = obj(json.loads(repo.lock.read_text()))
    change(data)
    repo.lock.write_text(json.dumps(data))
    with pytest.raises(compat.CompatError, match=match):
        repo.check()


def test_duplicate_type_const_is_an_error(repo: Repo) -> None:
    shutil.copyfile(repo.dir / BATCH, repo.dir / "digits.train.batch.v2.json")
    with pytest.raises(compat.CompatError, match=r"is also used by digits\.train\.batch\.v1\.json"):
        repo.check()


def test_unknown_schema_file_is_an_error(repo: Repo) -> None:
    shutil.copyfile(repo.dir / BATCH, repo.dir / "batch.json")
    with pytest.raises(compat.CompatError, match="unknown kind of schema"):
        repo.check()


# --- normalisation edge cases (small synthetic schemas beside a real common.json) ----------


def _message(type_const: str, **extra: JsonValue) -> JsonObject:
    schema: JsonObject = {
        "$id": f"https://example/{type_const}.json",
        "title": "X",
        "type": "object",
        "properties": {"type": {"const": type_const}},
        "required": ["type"],
    }
    schema.update(extra)
    return schema


def _entry_schema(repo: Repo, common_defs: JsonObject, **extra: JsonValue) -> JsonObject:
    repo.edit("common.json", lambda c: obj(c["$defs"]).update(common_defs))
    path = repo.dir / "legacy.probe.json"
    path.write_text(json.dumps(_message("probe", **extra)))
    return compat.current_entries(repo.dir)["probe"].schema


def test_local_ref_and_escaped_pointer_resolve(repo: Repo) -> None:
    schema = _entry_schema(
        repo,
        {"A/B": {"type": "string", "minLength": 2}, "C": {"$ref": "#/$defs/A~1B"}},
        properties={"type": {"const": "probe"}, "c": {"$ref": "common.json#/$defs/C"}},
    )
    assert prop(schema, "c") == {"type": ["string"], "minLength": 2}


@pytest.mark.parametrize(
    ("ref", "match"),
    [
        ("other.json#/$defs/X", "unsupported \\$ref"),
        ("common.json#/$defs/Missing", "points at nothing"),
        ("common.json#/$defs/Loop", "recursive \\$ref"),
    ],
)
def test_bad_refs_are_errors(repo: Repo, ref: str, match: str) -> None:
    with pytest.raises(compat.CompatError, match=match):
        _entry_schema(
            repo,
            {"Loop": {"properties": {"next": {"$ref": "common.json#/$defs/Loop"}}}},
            properties={"type": {"const": "probe"}, "x": {"$ref": ref}},
        )


def test_allof_is_kept_when_flattening_would_change_meaning(repo: Repo) -> None:
    base: JsonValue = [{"$ref": "common.json#/$defs/Base"}]
    closed: JsonObject = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
    }
    # Owner closed with additionalProperties: the base's "a" is not one of its properties.
    kept = _entry_schema(repo, {"Base": closed}, allOf=base, additionalProperties=False)
    assert "allOf" in kept
    # Both define "a" differently: both must hold, so they stay apart.
    owner_props: JsonObject = {"type": {"const": "probe"}, "a": {"type": "integer"}}
    clash = _entry_schema(repo, {"Base": closed}, allOf=base, properties=owner_props)
    assert "allOf" in clash
    # A keyword with different values in owner and base.
    differ = _entry_schema(
        repo, {"Base": {**closed, "minProperties": 1}}, allOf=base, minProperties=2
    )
    assert "allOf" in differ


def test_ref_with_allof_beside_it_and_a_part_that_keeps_its_own_allof(repo: Repo) -> None:
    common_defs: JsonObject = {
        "Closed": {"properties": {"a": {"type": "string"}}, "unevaluatedProperties": False},
        "Outer": {"allOf": [{"$ref": "common.json#/$defs/Closed"}], "properties": {"b": {}}},
    }
    schema = _entry_schema(
        repo,
        common_defs,
        properties={
            "type": {"const": "probe"},
            "x": {"$ref": "common.json#/$defs/Outer", "allOf": [{"required": ["b"]}]},
            "y": {"allOf": [{"$ref": "common.json#/$defs/Outer"}]},
        },
    )
    # Outer cannot flatten Closed (it closes itself), so neither x nor y can flatten Outer.
    x = prop(schema, "x")
    outer, extra = arr(x["allOf"])
    assert "allOf" in obj(outer) and extra == {"required": ["b"]}
    assert "allOf" in prop(schema, "y")


# --- command line -----------------------------------------------------------------------------


def _cli(repo: Repo, *args: str) -> int:
    return compat.main(["--schemas-dir", str(repo.dir), *args])


def test_cli_check_passes(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(repo, "check") == 0
    assert "no breaking change" in capsys.readouterr().out


def test_cli_check_fails_with_one_line_per_problem(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.edit(BATCH, lambda s: prop(s, "batch_loss").update(minimum=1, maximum=9))
    assert _cli(repo, "check") == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("maximum 9 added (rule: bound-tightened)")
    assert err[1].endswith("minimum tightened from 0 to 1 (rule: bound-tightened)")
    assert err[2].startswith("check-compat: 2 breaking change(s)")


def test_cli_notes_go_to_stdout(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.edit(BATCH, lambda s: s.update(deprecated=True))
    assert _cli(repo, "--lock", str(repo.lock), "check") == 0
    assert "the lock can be refreshed with `make lock-schemas`" in capsys.readouterr().out


def test_cli_error_exits_2(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.lock.unlink()
    assert _cli(repo, "check") == 2
    assert capsys.readouterr().err.startswith("compat: ")


def test_cli_lock_refuses_then_force(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.edit(BATCH, lambda s: prop(s, "batch_loss").update(minimum=1))
    assert _cli(repo, "lock") == 1
    err = capsys.readouterr().err
    assert "refusing to overwrite" in err and "--force" in err
    assert _cli(repo, "lock", "--force") == 0
    assert "lock-schemas: wrote" in capsys.readouterr().out
    assert _cli(repo, "check") == 0


def test_cli_lock_writes_when_compatible(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(repo, "lock") == 0
    assert "lock-schemas: wrote" in capsys.readouterr().out
