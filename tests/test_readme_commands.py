"""Every command README.md (and docs/, bench/, the bot's README) names is real and exercised.

Issue 27: README.md under 250 lines, every command in it tested or run by ``make demo``. Which
words are commands is ``doc_commands``'s rule; what makes one real is ``doc_command_checks``'s
(targets, scripts, ``--help`` of each module, nothing run for real). ``EXERCISED`` says, for each
command of README.md, which test or demo step runs it, and is checked against those files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.doc_command_checks import clean, probe, problems
from tests.doc_commands import WORKER_COMMANDS, Command, extract
from tests.doc_repository import ROOT, Repository

DOCUMENTS = sorted(
    str(path.relative_to(ROOT))
    for path in [
        ROOT / "README.md",
        ROOT / "bench" / "README.md",
        ROOT / "typescript" / "README.md",
        *(ROOT / "docs").rglob("*.md"),
    ]
)
PY_TESTS = "tests/**/*.py"
TS_TESTS = "typescript/test/**/*.ts"
# README command -> what runs it: (files, a text one of them holds), every one must be found.
EXERCISED: dict[str, list[tuple[str, str]]] = {
    "make check": [(".ci/run", "make check")],  # CI runs it: it runs every test below
    "make setup": [("Makefile", "test-py: setup"), ("Makefile", "lint: setup")],
    "npm ci": [("Makefile", "setup: $(VENV)/.installed $(TS)/node_modules/.installed")],
    "npm run build": [("demo/bot_build.py", '["npm", "run", "--silent", "build"]')],
    "make train": [
        ("Makefile", "train: setup"),
        ("Makefile", "$(PY) -m handwriting_worker train\n"),
        (PY_TESTS, '"-m", "handwriting_worker", "train"'),
    ],
    "python -m handwriting_worker train": [(PY_TESTS, '"-m", "handwriting_worker", "train"')],
    "make demo": [("Makefile", "$(PY) -m demo\n"), (PY_TESTS, '[sys.executable, "-m", "demo"')],
    "make codegen": [
        ("Makefile", "-m codegen.generate\n"),
        (PY_TESTS, "from codegen import generate"),
    ],
    "make check-drift": [
        ("Makefile", "-m codegen.generate --check"),
        (PY_TESTS, "from codegen import generate"),
    ],
    "make check-compat": [
        ("Makefile", "-m codegen.compat check"),
        (PY_TESTS, "from codegen import compat"),
    ],
    "make lock-schemas": [
        ("Makefile", "-m codegen.compat lock"),
        (PY_TESTS, "from codegen import compat"),
    ],
    "python -m handwriting_worker": [(PY_TESTS, '[sys.executable, "-m", "handwriting_worker"]')],
    "python -m handwriting_worker --help": [(PY_TESTS, '["--help"]')],
    "python -m handwriting_worker worker": [(PY_TESTS, '"-m", "handwriting_worker", "worker"')],
    "python -m handwriting_worker enqueue --user-id": [(PY_TESTS, '"enqueue", "--user-id"')],
    "python -m handwriting_worker intake": [(PY_TESTS, '"-m", "handwriting_worker", "intake"')],
    "python -m handwriting_worker predict-worker": [
        (PY_TESTS, '"-m", "handwriting_worker", "predict-worker"')
    ],
    "python -m handwriting_worker tail --replay": [(PY_TESTS, '["tail", "--replay"')],
    "python -m handwriting_worker evaluate": [(PY_TESTS, 'main(["evaluate", ')],
    "python -m handwriting_worker predict": [(PY_TESTS, 'main(["predict", ')],
    "npm start --dry-run": [("demo/run.py", '"npm", "start", "--silent", "--", "--dry-run"')],
    "npm start --help": [(TS_TESTS, 'runMain(["--help"])')],
    "npm run register-commands": [(TS_TESTS, 'scripts/register_commands.ts";')],
    # The run it draws and prints is tested (test/view/chart.test.ts); the PNG it writes is not.
    "npm run chart-sample": [(TS_TESTS, 'scripts/sample_run.ts";')],
    "make bench-train": [("Makefile", "-m bench.train"), (PY_TESTS, "from bench.train import")],
    "make bench-light": [
        ("Makefile", "-m bench.light_commands"),
        (PY_TESTS, "bench.light_commands"),
    ],
    "make chaos": [
        ("Makefile", "-m tests.chaos.run"),
        (PY_TESTS, "from tests.chaos.runner import"),
    ],
}
# README commands no test runs, and why: the figures are measured, not asserted.
NOT_EXERCISED = {
    "make bench-events": "a benchmark (minutes): bench/README.md has its method and figures",
    "make bench-overhead": "a benchmark (minutes): bench/README.md has its method and figures",
    "make bench-bot": "a benchmark (npm run bench, minutes): bench/README.md, typescript/README.md",
    "make bench-predict": "a benchmark (trains a model, minutes): bench/README.md has its figures",
}


def key(command: Command) -> str | None:
    """What a command runs, as EXERCISED names it: its target, script or module and options."""
    words = clean(command.argv)
    if words[0] == "make":
        return " ".join(["make", *(w for w in words[1:2] if "=" not in w)])
    p = probe(command)
    if words[0] == "npm":
        verb = [w for w in words[1:] if not w.startswith("-")][:2]
        verb = verb if verb[0] in {"run", "run-script"} else verb[:1]
        return " ".join(["npm", *verb, *(p.options if p else ())])
    return None if p is None else " ".join(["python", "-m", *p.argv, *p.options])


@pytest.fixture(scope="module")
def repo() -> Iterator[Repository]:
    yield Repository()  # one per module: each distinct --help runs once for every document


def test_the_rule_finds_commands_in_code_blocks_and_inline_code_only() -> None:
    text = "\n".join(
        [
            "Run `make train` or `cd typescript && npm run\nchart-sample` (`make` alone, too).",
            "Make sure `--json`, `tail` and `redis-cli PING` are left alone; `tail --replay` not.",
            "",
            "    .venv/bin/python -m handwriting_worker [worker] [--burst]   # a worker",
            "        prose under it: make nothing of it",
            "    DISCORD_TOKEN=x npm start -- --dry-run",
            "",
            "```mermaid",
            "a -->|make codegen| b",
            "```",
            "```",
            "make check-drift; python3 -m codegen.compat lock --force",
            "```",
        ]
    )
    found = [(c.where, " ".join(c.argv)) for c in extract("X.md", text)]
    assert found == [
        ("X.md:1", "make train"),
        ("X.md:1", "cd typescript"),
        ("X.md:1", "npm run chart-sample"),
        ("X.md:2", "make"),
        ("X.md:3", "python -m handwriting_worker tail --replay"),
        ("X.md:5", ".venv/bin/python -m handwriting_worker [worker] [--burst]"),
        ("X.md:7", "npm start -- --dry-run"),
        ("X.md:13", "make check-drift"),
        ("X.md:13", "python3 -m codegen.compat lock --force"),
    ]


PLANTED = {
    "make trian": "no target 'trian'",
    "make chaos SEEDZ=3": "does not read SEEDZ",
    "make bench-zz*": "no target 'bench-zz*'",
    "cd typscript && npm run chart-smaple": "no script 'chart-smaple'",
    "npm strat": "npm 'strat'",
    "npm start -- --dryrun": "--dryrun is not an option of `node dist/main.js`",
    "python -m handwriting_worker trian": "python -m handwriting_worker trian --help` exits 2",
    "python -m handwriting_worker tail --replay --snice 10m": "--snice is not an option",
    "python -m handwriting_worker train --[no-]augmnt": "--augmnt is not an option",
    "python -m no_such_module": "python -m no_such_module --help` exits 1",
    "python bench/train.py": "only `python -m MODULE ...`",
}


def test_a_planted_wrong_command_is_named_with_what_is_wrong(repo: Repository) -> None:
    good = "`make train`, `make chaos SEEDS=3`, `make bench-*`, `cd typescript`, `npm start`\n"
    text = good + "".join(f"\n    {command}\n" for command in PLANTED)
    found = problems(extract("BAD.md", text), repo)
    assert not [p for p in found if p.startswith("BAD.md:1:")], found
    for command, why in PLANTED.items():
        named = [p for p in found if f"`{command.split(' && ')[-1]}`" in p or command in p]
        assert any(why in p for p in named), f"{command}: {why!r} not in {found}"
    assert "no such folder" in "".join(p for p in found if "`cd typscript`" in p)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_command_a_document_names_is_real(document: str, repo: Repository) -> None:
    commands = extract(document, (ROOT / document).read_text())
    assert problems(commands, repo) == []


def test_the_rule_knows_every_worker_command(repo: Repository) -> None:
    repo.run_helps([(("handwriting_worker",), False)])
    _, text = repo.helps[("handwriting_worker",), False]
    listed = text.split("positional arguments:")[1].split("options:")[0]
    assert set(re.findall(r"^ {4}([a-z][\w-]*)", listed, re.M)) == WORKER_COMMANDS


def _holds(where: str, text: str) -> bool:
    return any(text in path.read_text() for path in ROOT.glob(where) if path.is_file())


def _unmapped(readme: str) -> tuple[set[str], set[str]]:
    """README commands EXERCISED does not map, and what it maps that README no longer names."""
    keys = {k for c in extract("README.md", readme) if (k := key(c))}
    mapped = EXERCISED.keys() | NOT_EXERCISED.keys()
    return keys - mapped, mapped - keys


def test_a_readme_command_no_test_runs_is_caught() -> None:
    readme = (ROOT / "README.md").read_text()
    added = readme + "\n`make lint`, `python -m handwriting_worker tail --json`\n"
    assert _unmapped(added)[0] == {"make lint", "python -m handwriting_worker tail --json"}
    assert "make demo" in _unmapped(readme.replace("make demo", "make help"))[1]


def test_every_readme_command_is_run_by_a_test_or_the_demo() -> None:
    assert _unmapped((ROOT / "README.md").read_text()) == (set(), set())
    missing = [(k, *what) for k, found in EXERCISED.items() for what in found if not _holds(*what)]
    assert missing == [], "a test or the demo no longer runs these: update EXERCISED"


def test_the_readme_is_under_250_lines() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) < 250
