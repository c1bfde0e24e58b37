"""codegen.env_example: the Python part of deploy/digits.env.example is settings.py's.

The committed file must be what the generator writes (a changed default or docstring fails here
and in ``make check-drift``); a field whose docstring does not start with its variable is refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from codegen import env_example
from codegen.env_example import BOT_TITLE, EXAMPLE, EnvExampleError, fresh, main, python_part
from codegen.schema_index import REPO_ROOT


def test_the_committed_example_is_what_the_settings_produce() -> None:
    current = (REPO_ROOT / EXAMPLE).read_text()
    assert fresh(current) == current, "run `make codegen`"
    assert main(["--check"]) == 0


def test_check_fails_on_a_drifted_file_and_writing_repairs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / EXAMPLE).parent.mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / EXAMPLE, tmp_path / EXAMPLE)
    good = (tmp_path / EXAMPLE).read_text()
    (tmp_path / EXAMPLE).write_text(good.replace("#RQ__QUEUE=digits", "#RQ__QUEUE=other"))
    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert "differs from settings.py; run `make codegen`" in capsys.readouterr().err
    assert main(["--root", str(tmp_path)]) == 0
    assert (tmp_path / EXAMPLE).read_text() == good, "the bot's part is kept as it was"


class _Inner(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    flag: bool = False
    """OUTER__FLAG: a switch,
    described on two lines."""


class _Outer(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    outer: _Inner = _Inner()
    sums: dict[str, str] = {"a.gz": "0f"}
    """SUMS: checksums."""
    events__batch_every: int = 10
    """EVENTS__BATCH_EVERY: how often."""


def test_each_field_is_its_docstring_and_its_default_and_advice_sets_a_value() -> None:
    part = python_part(_Outer)
    body = part.split("## Worker and tools (Python)\n")[1]
    assert body.startswith(
        "# a switch, described on two lines.\n#OUTER__FLAG=false\n"
        '# checksums.\n#SUMS={"a.gz": "0f"}\n# how often. Off while a rollout'
    ), body
    assert "\nEVENTS__BATCH_EVERY=0\n" in body
    assert all(len(line) <= env_example.WIDTH for line in part.splitlines())
    assert fresh("no bot part", _Outer) == part + BOT_TITLE + "\n"


class _Undocumented(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    size: int = 1
    """SIZ: a typo in the name."""


def test_a_docstring_that_does_not_name_its_variable_is_refused() -> None:
    with pytest.raises(EnvExampleError, match="SIZE: its docstring must start with 'SIZE: '"):
        python_part(_Undocumented)
