"""Shared test configuration: Hypothesis profiles and fixtures.

Hypothesis profile: ``HYPOTHESIS_PROFILE`` picks one by name; when it is unset, ``CI=true`` picks
``ci`` and anything else ``dev``.

* ``dev`` (default): 60 examples per property, random seeds (failures go to ``.hypothesis/``).
* ``ci``: 150 examples per property, derandomized so that every CI run tests the same inputs.
* ``ci-ft``: 25 examples per property, derandomized: the free-threaded leg of ``make test``
  (``make test-ft``), which is there for free-threading, not for the properties' depth (the
  3.11 leg runs them at 150); it keeps the whole CI run inside its time budget.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

import gilfree
from gilfree._info import num_threads_setting

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}

settings.register_profile("dev", max_examples=60, **_COMMON)
settings.register_profile("ci", max_examples=150, derandomize=True, **_COMMON)
settings.register_profile("ci-ft", max_examples=25, derandomize=True, **_COMMON)


def _profile_name() -> str:
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    return "ci" if os.environ.get("CI") == "true" else "dev"


settings.load_profile(_profile_name())


@pytest.fixture
def restore_num_threads() -> Iterator[int]:
    """Yields the pool size and puts the setting back afterwards, so a test may call
    set_num_threads(): the same number, or the environment's size (set_num_threads(None)) if no
    set_num_threads(n) decided before."""
    before = num_threads_setting()
    try:
        yield gilfree.get_num_threads()
    finally:
        gilfree.set_num_threads(before)


@pytest.fixture(autouse=True, scope="module")
def _module_leaves_no_trace() -> Iterator[None]:
    """What a test module changes in the process, put back after it: the environment (Dask's
    nanny sets OMP_NUM_THREADS=1 and the BLAS variables in its own process, the test process with
    a LocalCluster, and later tests' children would inherit them) and the pool setting."""
    environ = dict(os.environ)
    setting = num_threads_setting()
    yield
    os.environ.clear()
    os.environ.update(environ)
    gilfree.set_num_threads(setting)


@pytest.fixture(scope="module")
def executor() -> Iterator[gilfree.Executor]:
    """One gilfree.Executor per test module, shut down (waiting) after it."""
    ex = gilfree.Executor()
    try:
        yield ex
    finally:
        ex.shutdown(wait=True)
