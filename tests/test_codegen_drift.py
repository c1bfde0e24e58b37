"""make codegen / make check-drift: generated code matches the schemas, and drift is caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from codegen import generate
from codegen.schema_index import REPO_ROOT, SCHEMAS_DIR
from handwriting_ai import contracts
from handwriting_ai.contracts import names


def _copy_schemas(tmp_path: Path) -> Path:
    dest = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, dest)
    return dest


def _copy_generated(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / generate.PY_PACKAGE, root / generate.PY_PACKAGE)
    (root / generate.TS_MODULE).parent.mkdir(parents=True)
    for ts in (generate.TS_MODULE, generate.TS_NAMES):
        shutil.copyfile(REPO_ROOT / ts, root / ts)
    return root


def test_committed_generated_code_matches_the_schemas() -> None:
    assert generate.drift() == []


def test_generation_is_byte_identical_across_runs_and_folders(tmp_path: Path) -> None:
    first = generate.generate(tmp_path / "a")
    second = generate.generate(tmp_path / "b")
    assert first == second
    for path in first:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()


def test_renaming_a_field_fails_the_check_and_names_the_files(tmp_path: Path) -> None:
    schemas = _copy_schemas(tmp_path)
    path = schemas / "digits.train.batch.v1.json"
    schema = json.loads(path.read_text())
    props = schema["properties"]
    props["loss_of_batch"] = props.pop("batch_loss")
    schema["required"] = ["loss_of_batch" if r == "batch_loss" else r for r in schema["required"]]
    path.write_text(json.dumps(schema))

    problems = generate.drift(REPO_ROOT, schemas)

    named = {p.split(":", 1)[0] for p in problems}
    assert named == {
        "python/src/handwriting_ai/contracts/digits_train_batch_v1.py",
        "python/src/handwriting_ai/contracts/fields.py",
        "python/src/handwriting_ai/contracts/builders.py",
        "typescript/src/generated/contracts.ts",
    }
    assert all("run `make codegen`" in p for p in problems)
    joined = "\n".join(problems)
    assert "-    batch_loss: float" in joined
    assert "+    loss_of_batch: float" in joined
    assert "+  loss_of_batch: z.number()" in joined
    assert '+        "loss_of_batch": non_negative(fields["loss_of_batch"]),' in joined


def test_stale_and_missing_files_are_reported(tmp_path: Path) -> None:
    root = _copy_generated(tmp_path)
    (root / generate.PY_PACKAGE / "digits_train_gone_v1.py").write_text("# old\n")
    (root / generate.PY_PACKAGE / "legacy_failed.py").unlink()
    (root / generate.TS_MODULE).unlink()

    problems = generate.drift(root)

    assert problems == [
        f"{generate.PY_PACKAGE}/digits_train_gone_v1.py: stale generated file "
        "(no schema produces it); delete it",
        f"{generate.PY_PACKAGE}/legacy_failed.py: missing; run `make codegen`",
        f"{generate.TS_MODULE}: missing; run `make codegen`",
    ]


def test_write_in_place_rewrites_and_removes_stale_files(tmp_path: Path) -> None:
    root = _copy_generated(tmp_path)
    stale = root / generate.PY_PACKAGE / "digits_train_gone_v1.py"
    stale.write_text("# old\n")
    (root / generate.TS_MODULE).write_text("// edited by hand\n")

    written = generate.write_in_place(root)

    assert not stale.exists()
    assert generate.TS_MODULE in written
    assert generate.drift(root) == []


def test_cli_check_reports_drift_and_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert generate.main(["--check"]) == 0
    assert "matches the schemas" in capsys.readouterr().out

    root = _copy_generated(tmp_path)
    (root / generate.TS_MODULE).write_text("// edited by hand\n")
    assert generate.main(["--check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert f"{generate.TS_MODULE}: differs from the schemas" in err
    assert "-// edited by hand" in err
    assert "1 generated file(s) out of date" in err

    assert generate.main(["--root", str(root)]) == 0
    assert f"wrote {generate.TS_MODULE}" in capsys.readouterr().out
    assert generate.drift(root) == []


def test_a_failing_generator_step_names_the_command() -> None:
    with pytest.raises(generate.CodegenError, match=r"false failed"):
        generate._run(["false"])


def test_generated_python_exposes_the_unions() -> None:
    assert len(contracts.DIGITS_EVENT_V1_TYPES) == 9
    assert set(contracts.LEGACY_EVENT_TYPES) == {"started", "progress", "completed", "failed"}
    for type_const, file in contracts.SCHEMA_FILES.items():
        schema = json.loads((SCHEMAS_DIR / file).read_text())
        if type_const == names.MANIFEST_V1:  # a document, not a message: keyed by its file
            assert file == type_const + ".json"
            continue
        assert schema["properties"]["type"]["const"] == type_const


def _undescribed(node: object, where: str) -> list[str]:
    """Places in a schema that lack a description: the schema and every property."""
    missing: list[str] = []
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            for name, sub in props.items():
                if not (isinstance(sub, dict) and isinstance(sub.get("description"), str)):
                    missing.append(f"{where}.properties.{name}")
        for key, sub in node.items():
            missing += _undescribed(sub, f"{where}.{key}")
    return missing


def test_every_schema_and_field_is_described_and_the_code_carries_it() -> None:
    problems: list[str] = []
    for path in sorted(SCHEMAS_DIR.glob("*.json")):
        if path.name == "lock.json":
            continue
        schema = json.loads(path.read_text())
        if not isinstance(schema.get("description"), str):
            problems.append(path.name)
        for name, sub in schema.get("$defs", {}).items():
            if not isinstance(sub.get("description"), str):
                problems.append(f"{path.name}#/$defs/{name}")
        problems += _undescribed(schema, path.name)
    assert problems == []
    batch_py = (REPO_ROOT / generate.PY_PACKAGE / "digits_train_batch_v1.py").read_text()
    assert "Mean training loss of this batch." in batch_py
    ts = (REPO_ROOT / generate.TS_MODULE).read_text()
    assert '.describe("Mean training loss of this batch.")' in ts
