"""The worker's subpackages import down their layers only (``handwriting_worker/__init__.py``).

commands -> predicting -> requests -> rq -> training: a module may import its own package and
the ones below it, never one above, so each layer can be read (and tested) without the ones
that use it. Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import handwriting_worker

LAYERS = ("commands", "predicting", "requests", "rq", "training")
PACKAGE = Path(handwriting_worker.__file__).parent


def _imported(path: Path) -> set[str]:
    """The handwriting_worker modules and packages ``path`` imports, as dotted names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith("handwriting_worker.")}


def _layer(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_module_is_in_a_layer() -> None:
    loose = sorted(
        path.name
        for path in PACKAGE.glob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    )
    assert loose == [], f"modules outside the layers {LAYERS}: {loose}"


def test_imports_run_down_the_layers() -> None:
    upward: list[str] = []
    for layer in LAYERS:
        for path in sorted((PACKAGE / layer).glob("*.py")):
            for name in sorted(_imported(path)):
                target = _layer(name)
                if target is not None and LAYERS.index(target) < LAYERS.index(layer):
                    upward.append(f"{layer}/{path.name} imports {name}")
    assert upward == [], "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def f() -> None:\n    from handwriting_worker.commands import cli\n", encoding="utf-8"
    )
    assert _imported(probe) == {
        "handwriting_worker.commands",
        "handwriting_worker.commands.cli",
    }
    assert _layer("handwriting_worker.commands.cli") == "commands"
    assert _layer("handwriting_worker") is None
