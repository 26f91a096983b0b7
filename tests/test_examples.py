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
@pytest.mark.parametrize(
    ("script", "args", "ok"),
    [
        # What `make demo` runs first.
        ("reduce_gil_free.py", [], "OK"),
        # The recipe, every step measured and checked.
        ("recipe.py", ["--quick"], "all checks OK"),
    ],
)
def test_example_runs_ok(script: str, args: list[str], ok: str) -> None:
    """The example exits 0, reports its success line and no failure."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert proc.returncode == 0, output
    assert ok in proc.stdout, output
    assert "FAILED" not in proc.stdout, output
    if script == "recipe.py":
        for step in range(1, 7):
            assert f"\n{step}. " in proc.stdout, output
