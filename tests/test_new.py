"""`gilfree new`: the scaffold itself (files, names, refusals, the README's first example).

Building and testing the generated projects (`pip install . && pytest`, from a wheel in a fresh
venv) is scripts/test_new.sh's job (`make test-new`): minutes, not milliseconds.
"""

from __future__ import annotations

import ast
import doctest
import re
import sys
from pathlib import Path

import pytest

import gilfree
from gilfree import _cli, _scaffold
from gilfree._scaffold import ScaffoldError, crate_dir, new_project, validate_name

RUST_FILES = {
    ".gitignore",
    "Cargo.toml",
    "README.md",
    "pyproject.toml",
    "src/lib.rs",
    "tests/test_demo.py",
    "demo.pyi",
}
CYTHON_FILES = {
    ".gitignore",
    "MANIFEST.in",
    "README.md",
    "pyproject.toml",
    "setup.py",
    "src/demo/__init__.py",
    "src/demo/_kernel.pyi",
    "src/demo/_kernel.pyx",
    "src/demo/py.typed",
    "tests/test_demo.py",
    "gilfree_include/gilfree.h",
    "gilfree_include/gilfree/__init__.pxd",
    "gilfree_include/gilfree/runtime.pxd",
}


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def first_python_block(readme: Path) -> str:
    block = re.search(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.DOTALL)
    assert block, f"{readme} has no ```python block"
    return block.group(1)


# --- the projects ------------------------------------------------------------------------------


def test_rust_project(tmp_path: Path) -> None:
    dest = new_project("demo", directory=tmp_path / "demo")
    assert dest == tmp_path / "demo"
    assert files(dest) == RUST_FILES
    cargo = (dest / "Cargo.toml").read_text(encoding="utf-8")
    # gilfree-pyo3 by path, to the sources of the gilfree running this test.
    dep = re.search(r'^gilfree-pyo3 = \{ path = "(.*)" \}$', cargo, re.MULTILINE)
    assert dep, cargo
    assert Path(dep.group(1)) == crate_dir() / "gilfree-pyo3"
    assert (Path(dep.group(1)) / "Cargo.toml").is_file()
    assert 'name = "demo"' in cargo
    assert "\n[workspace]\n" in cargo  # its own workspace, wherever it is created
    lib = (dest / "src/lib.rs").read_text(encoding="utf-8")
    assert "fn demo(m: &Bound<'_, PyModule>)" in lib
    assert "gilfree_pyo3::init(m)?" in lib
    assert "register_task" in lib
    pyproject = (dest / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"gilfree>={".".join(gilfree.__version__.split(".")[:2])}"' in pyproject


def test_cython_project(tmp_path: Path) -> None:
    dest = new_project("demo", cython=True, directory=tmp_path / "demo")
    assert files(dest) == CYTHON_FILES
    # The header and declarations are copies of this gilfree's: pip's isolated build has no gilfree.
    header = Path(gilfree.get_include()) / "gilfree.h"
    assert (dest / "gilfree_include/gilfree.h").read_bytes() == header.read_bytes()
    pxd = Path(gilfree.__file__).parent / "runtime.pxd"
    assert (dest / "gilfree_include/gilfree/runtime.pxd").read_bytes() == pxd.read_bytes()
    pyx = (dest / "src/demo/_kernel.pyx").read_text(encoding="utf-8")
    assert "from gilfree cimport runtime" in pyx
    assert "runtime.import_gilfree()" in pyx
    assert 'b"demo.mean_abs_diff"' in pyx
    setup = (dest / "setup.py").read_text(encoding="utf-8")
    assert '"demo._kernel", ["src/demo/_kernel.pyx"]' in setup
    # No build requirement the registries cannot satisfy.
    build = re.search(r"requires = \[(.*)\]", (dest / "pyproject.toml").read_text(encoding="utf-8"))
    assert build
    assert "gilfree" not in build.group(1)


@pytest.mark.parametrize("cython", [False, True])
def test_generated_text_is_complete_and_valid(tmp_path: Path, cython: bool) -> None:
    dest = new_project("demo", cython=cython, directory=tmp_path / "demo")
    for path in dest.rglob("*"):
        if path.is_file() and "gilfree_include" not in path.parts:  # (copies of gilfree's files)
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"\{\{[a-z_]+\}\}", text), path
            assert "__name__" not in path.name, path
            if path.suffix in (".py", ".pyi"):
                ast.parse(text, filename=str(path))
    if sys.version_info >= (3, 11):
        import tomllib

        for toml in dest.glob("*.toml"):
            tomllib.loads(toml.read_text(encoding="utf-8"))


@pytest.mark.parametrize("cython", [False, True])
def test_readme_first_example_uses_the_module(tmp_path: Path, cython: bool) -> None:
    dest = new_project("my_kernels", cython=cython, directory=tmp_path / "p")
    code = first_python_block(dest / "README.md")
    assert "from my_kernels import mean_abs_diff" in code
    ast.parse(code)
    # The generated tests run that very block (so it is known to work once built).
    test = (dest / "tests/test_my_kernels.py").read_text(encoding="utf-8")
    assert "def test_readme_first_example_runs" in test


def test_default_directory_is_the_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert new_project("demo") == tmp_path / "demo"
    assert (tmp_path / "demo" / "Cargo.toml").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no temporary directory left over


def test_an_empty_directory_is_filled(tmp_path: Path) -> None:
    (tmp_path / "here").mkdir()
    assert new_project("demo", directory=tmp_path / "here") == tmp_path / "here"
    assert files(tmp_path / "here") == RUST_FILES


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["demo", "my_kernels", "fast2", "a"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "invalid project name"),
        ("My_Ext", "lowercase"),
        ("my-ext", "e.g. 'my_ext'"),
        ("2fast", "starting with a letter"),
        ("_private", "starting with a letter"),
        ("with space", "invalid project name"),
        ("café", "invalid project name"),
        ("x" * 65, "at most 64"),
        ("class", "Python keyword"),
        ("fn", "Rust keyword"),
        ("json", "shadow"),
        ("gilfree", "shadow"),
        ("numpy", "shadow"),
        ("tests", "shadow"),
    ],
)
def test_invalid_names(name: str, why: str) -> None:
    with pytest.raises(ScaffoldError, match=re.escape(why)):
        validate_name(name)


def test_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    dest = tmp_path / "demo"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ScaffoldError, match="exists and is not empty"):
        new_project("demo", directory=dest)
    assert files(dest) == {"mine.txt"}


def test_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "demo").write_text("", encoding="utf-8")
    with pytest.raises(ScaffoldError, match="not a directory"):
        new_project("demo", directory=tmp_path / "demo")


def test_a_failure_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(dest: object) -> list[Path]:
        raise OSError("disk full")

    monkeypatch.setattr(_scaffold, "vendor_headers", broken)
    with pytest.raises(OSError, match="disk full"):
        new_project("demo", cython=True, directory=tmp_path / "demo")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty").mkdir()
    with pytest.raises(OSError, match="disk full"):
        new_project("demo", cython=True, directory=tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []


# --- the command line --------------------------------------------------------------------------


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main(["new", "demo", "--dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "a Rust extension" in out
    assert 'pip install ".[test]"' in out
    assert _cli.main(["new", "demo", "--cython", "--dir", str(tmp_path / "c")]) == 0
    assert "a Cython extension" in capsys.readouterr().out
    assert files(tmp_path / "c") == CYTHON_FILES
    # Bad names and occupied directories: usage errors (2), one line on stderr, nothing written.
    assert _cli.main(["new", "Bad-Name", "--dir", str(tmp_path / "b")]) == 2
    assert "gilfree new: error: invalid project name 'Bad-Name'" in capsys.readouterr().err
    assert _cli.main(["new", "demo", "--dir", str(tmp_path / "r")]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_cli_broken_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> Path:
        raise FileNotFoundError("gilfree's crate sources are not installed")

    monkeypatch.setattr(_scaffold, "crate_dir", missing)
    assert _cli.main(["new", "demo", "--dir", str(tmp_path / "r")]) == 1
    assert "crate sources are not installed" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# --- the crate sources -------------------------------------------------------------------------


def test_crate_dir_has_both_crates() -> None:
    base = crate_dir()
    for name in _scaffold.CRATES:
        assert (base / name / "Cargo.toml").is_file()
        assert (base / name / "src" / "lib.rs").is_file()
        # Standalone manifests: a project outside this workspace builds them.
        manifest = (base / name / "Cargo.toml").read_text(encoding="utf-8")
        assert not re.search(r"^[^#\n]*workspace\s*=\s*true", manifest, re.MULTILINE), name


def test_docstring_examples() -> None:
    failed, attempted = doctest.testmod(
        _scaffold, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert attempted > 0
    assert failed == 0
