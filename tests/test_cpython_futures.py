"""CPython's own ``concurrent.futures`` thread-pool tests as a guard of ``gilfree.Executor``.

The interpreter's ``test.test_concurrent_futures`` (bodies unchanged) runs with
``gilfree.Executor`` swapped in for ``ThreadPoolExecutor``, once with the suite's Python
callables and once with its sleeps and object factory run as native kernel tasks; the adapter,
its skip list and the reasons are in ``tests/_cpython_futures.py``. Run it with
``make test-cpython`` (CPython 3.13, which ships its ``test`` package); on an interpreter without
that package (the 3.11 of ``.venv``) the module is skipped.
"""

from __future__ import annotations

import inspect
import sys
import unittest

import pytest

try:
    import _cpython_futures as adapter
except ImportError as exc:  # no test package, or not the 3.13 layout of the suite
    pytest.skip(
        f"CPython's test.test_concurrent_futures package is not available on this interpreter "
        f"({sys.version.split()[0]}: {exc}); run `make test-cpython` (CPython 3.13)",
        allow_module_level=True,
    )

# The adapted suite: pytest collects these unittest classes (and only these: the suite's own
# classes are not imported here).
from _cpython_futures import (
    GilfreeAsCompletedTest,
    GilfreeFailingInitializerTest,
    GilfreeInitializerTest,
    GilfreeKernelAsCompletedTest,
    GilfreeKernelExecutorTest,
    GilfreeKernelShutdownTest,
    GilfreeKernelWaitTests,
    GilfreeThreadPoolExecutorTest,
    GilfreeThreadPoolShutdownTest,
    GilfreeThreadPoolWaitTests,
)

__all__ = [
    "GilfreeAsCompletedTest",
    "GilfreeFailingInitializerTest",
    "GilfreeInitializerTest",
    "GilfreeKernelAsCompletedTest",
    "GilfreeKernelExecutorTest",
    "GilfreeKernelShutdownTest",
    "GilfreeKernelWaitTests",
    "GilfreeThreadPoolExecutorTest",
    "GilfreeThreadPoolShutdownTest",
    "GilfreeThreadPoolWaitTests",
]


def test_every_class_is_collected() -> None:
    assert sorted(__all__) == sorted(cls.__name__ for cls in adapter.CLASSES)


def test_skip_list_names_real_tests() -> None:
    # Every skipped name is a test of that class in this interpreter's suite, and it is skipped
    # with the listed reason; no other test of the classes is skipped by the adapter.
    by_name = {cls.__name__: cls for cls in adapter.CLASSES}
    for cls_name, skips in adapter.SKIPS.items():
        cls = by_name[cls_name]
        for test_name, reason in skips.items():
            method = getattr(cls, test_name, None)
            assert method is not None, f"{cls_name}.{test_name} is not in this suite: update SKIPS"
            assert getattr(method, "__unittest_skip_why__", None) == reason, (cls_name, test_name)


def test_the_suite_runs_gilfree_and_kernels() -> None:
    if adapter.REFERENCE:
        pytest.skip("GILFREE_CPYTHON_REFERENCE=1: the classes run ThreadPoolExecutor")
    import gilfree

    for cls in adapter.CLASSES:
        assert issubclass(cls.executor_type, gilfree.Executor), cls
    # The bodies are the interpreter's: the test methods come from the suite's modules.
    source = inspect.getsourcefile(GilfreeThreadPoolExecutorTest.test_free_reference)
    assert source is not None
    assert "test_concurrent_futures" in source
    loader = unittest.TestLoader()
    counts = {cls.__name__: loader.loadTestsFromTestCase(cls).countTestCases() for cls in adapter.CLASSES}
    assert all(counts.values()), counts
