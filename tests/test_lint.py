"""The tree passes the project's one linter and formatter: `ruff check .` and `ruff format --check .`
(settings in pyproject.toml), so a change that skips `ruff format` fails here, not in review."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _ruff() -> list[str] | None:
    """The ruff of this interpreter's environment (the `test` extra), else one on the PATH."""
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    found = shutil.which("ruff")
    return [found] if found else None


RUFF = _ruff()


@pytest.mark.skipif(
    RUFF is None, reason="ruff is not installed (pip install -e '.[test]' brings it)"
)
@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]], ids=" ".join)
def test_the_tree_passes_ruff(args):
    run = subprocess.run(
        [*RUFF, *args], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, (
        f"ruff {' '.join(args)} in the repository:\n{run.stdout}{run.stderr}"
    )
