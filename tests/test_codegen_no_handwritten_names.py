"""No message type or shared Redis name is written by hand outside schemas/ and generated code.

Code names them through ``handwriting_ai.contracts.names`` (generated from schemas/), so a
renamed or new type is one schema edit and ``make codegen``, and a typo is an unknown name
that mypy refuses rather than a string that silently matches nothing. Docstrings and
comments may mention them; what is checked is every other string literal in the Python code.
Tests are exempt: they pin the wire format on purpose. The TypeScript side adopts
``typescript/src/generated/names.ts`` the same way.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

from codegen.schema_index import NAMES_FILE, REPO_ROOT, SCHEMAS_DIR
from handwriting_ai.contracts import SCHEMA_FILES

CHECKED = ["python/src", "codegen", "bench", "demo"]
GENERATED = REPO_ROOT / "python/src/handwriting_ai/contracts"
# Legacy types ("started", "failed", ...) are ordinary words: only the dotted names are sought.
SOUGHT = {name for name in SCHEMA_FILES if "." in name} | {
    str(entry["const"])
    for entry in json.loads((SCHEMAS_DIR / NAMES_FILE).read_text())["$defs"].values()
}
# Files another branch is changing: they adopt the constant there, then leave this list.
NOT_YET: set[tuple[str, str]] = set()


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (a module's, a class's, a function's,
    or an attribute's: a bare string statement)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            found.add(id(node.value))
    return found


def literals(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal in ``path`` that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value


def hand_written(root: Path = REPO_ROOT) -> list[str]:
    """``file:line: 'name'`` for every hand-written type or Redis name."""
    found: list[str] = []
    for folder in CHECKED:
        for path in sorted((root / folder).rglob("*.py")):
            if path.is_relative_to(GENERATED):
                continue
            where = str(path.relative_to(root))
            for line, text in literals(path):
                if text in SOUGHT and (where, text) not in NOT_YET:
                    found.append(f"{where}:{line}: {text!r}")
    return found


def test_no_type_or_redis_name_is_written_by_hand() -> None:
    assert hand_written() == []


def test_the_check_finds_a_name_written_by_hand_and_ignores_docstrings(tmp_path: Path) -> None:
    code = tmp_path / "python/src/pkg/mod.py"
    code.parent.mkdir(parents=True)
    code.write_text(
        '"""Reads digits.train.batch.v1."""\n'
        "class A:\n"
        '    """digits.train.batch.v1"""\n'
        'KIND = "digits.train.batch.v1"\n'
        '"""digits:events"""\n'
        'CHANNEL = f"{1}" + "digits:events"\n'
    )
    assert hand_written(tmp_path) == [
        "python/src/pkg/mod.py:4: 'digits.train.batch.v1'",
        "python/src/pkg/mod.py:6: 'digits:events'",
    ]


def ts_hand_written(root: Path = REPO_ROOT) -> list[str]:
    """The same for the bot: a quoted name in typescript/src outside generated/ (comments
    included: a TypeScript comment is rare enough that it should use the constant's name)."""
    found: list[str] = []
    src = root / "typescript" / "src"
    for path in sorted(src.rglob("*.ts")):
        if path.is_relative_to(src / "generated"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for name in SOUGHT:
                if f'"{name}"' in line or f"'{name}'" in line or f"`{name}`" in line:
                    found.append(f"{path.relative_to(root)}:{number}: {name!r}")
    return found


def test_the_bot_writes_no_type_or_redis_name_by_hand() -> None:
    assert ts_hand_written() == []


def test_the_bot_check_finds_a_quoted_name(tmp_path: Path) -> None:
    src = tmp_path / "typescript/src"
    (src / "generated").mkdir(parents=True)
    (src / "generated" / "names.ts").write_text('export const X = "digits.train.batch.v1";\n')
    (src / "state.ts").write_text('const a = 1;\nif (t === "digits.train.batch.v1") a;\n')
    assert ts_hand_written(tmp_path) == ["typescript/src/state.ts:2: 'digits.train.batch.v1'"]
