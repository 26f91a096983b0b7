"""The runnable examples run, pass their own checks, and say so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


# The subprocess gets 120 s; pytest's own limit sits above it so that a hang fails with the
# subprocess's TimeoutExpired (and its output so far) rather than a bare pytest-timeout dump.
@pytest.mark.timeout(180)
def test_reduce_gil_free_example_runs_ok() -> None:
    """``examples/reduce_gil_free.py`` (what ``make demo`` runs) exits 0 and reports OK."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "reduce_gil_free.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert proc.returncode == 0, output
    assert "OK" in proc.stdout, output
    assert "FAILED" not in proc.stdout, output


@pytest.mark.timeout(180)
def test_recipe_example_runs_ok() -> None:
    """``examples/recipe.py --quick`` walks every step, and every answer checks out."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "recipe.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert proc.returncode == 0, output
    assert "all checks OK" in proc.stdout, output
    assert "FAILED" not in proc.stdout, output
    for step in range(1, 7):
        assert f"\n{step}. " in proc.stdout, output
