"""The examples in the docs run: every docstring of the public API, and the sessions of the README
and the guide."""

from __future__ import annotations

import doctest
import pathlib
import types

import pytest

import gilfree
from gilfree import _info, _interrupt, _native, _progress

ROOT = pathlib.Path(__file__).resolve().parent.parent
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _run(module: types.ModuleType) -> doctest.TestResults:
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    tests = finder.find(module, module.__name__, globs={})
    # Native functions are found through the module dict; their __module__ is gilfree._native.
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if isinstance(obj, types.BuiltinFunctionType) and obj.__doc__:
            tests.extend(finder.find(obj, f"{module.__name__}.{name}", globs={}))
    for test in tests:
        runner.run(test)
    return runner.summarize(verbose=False)


@pytest.mark.parametrize("module", [gilfree, _native, _info, _interrupt, _progress], ids=lambda m: m.__name__)
def test_docstring_examples(module: types.ModuleType) -> None:
    failed, attempted = _run(module)
    assert attempted > 0, f"no examples found in {module.__name__}"
    assert failed == 0


def test_every_public_function_has_a_runnable_example() -> None:
    missing = [
        name
        for name in [*gilfree.__all__, "sum", "min", "max"]
        if callable(getattr(gilfree, name))
        and not isinstance(getattr(gilfree, name), type)
        and ">>>" not in (getattr(gilfree, name).__doc__ or "")
    ]
    assert missing == []


@pytest.mark.parametrize("doc", ["README.md", "docs/guide.md"])
def test_markdown_sessions(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, doc, str(ROOT / doc), 0)
    assert test.examples, f"{doc} has no >>> examples"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test)
    failed, _ = runner.summarize(verbose=False)
    assert failed == 0


def test_extending_sessions() -> None:
    """docs/extending.md's session runs against the example extensions as installed."""
    import importlib.util

    missing = [
        m for m in ("gilfree_rust_example", "gilfree_cython_example") if importlib.util.find_spec(m) is None
    ]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (make examples-rust examples-cython)")
    text = (ROOT / "docs/extending.md").read_text(encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(text, {}, "extending.md", str(ROOT / "docs/extending.md"), 0)
    assert test.examples
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test)
    failed, _ = runner.summarize(verbose=False)
    assert failed == 0


def test_star_import_does_not_shadow_the_builtins() -> None:
    """`from gilfree import *` leaves sum, min, max... alone; they stay public as gilfree.sum etc."""
    import builtins

    namespace: dict[str, object] = {}
    exec("from gilfree import *", namespace)
    shadowed = sorted(name for name in namespace if name != "__builtins__" and hasattr(builtins, name))
    assert shadowed == []
    native = gilfree._native
    assert [gilfree.sum, gilfree.min, gilfree.max] == [native.sum, native.min, native.max]


def test_make_demo_installs_the_bench_extra() -> None:
    """`make demo` ends with the plot it advertises: its build installs the bench extra
    (matplotlib), which the plain `make build` does not."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("no make here")
    dry = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, check=True)
    develop = [line for line in dry.stdout.splitlines() if "maturin develop" in line]
    assert len(develop) == 1, dry.stdout
    assert "bench" in develop[0].split("--extras", 1)[1].split()[0].split(","), develop[0]
    assert "--plot bench-results/demo.png" in dry.stdout
