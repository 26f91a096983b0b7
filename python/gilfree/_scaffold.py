"""``gilfree new NAME [--cython]``: a project with one GIL-free kernel on gilfree's runtime.

The templates are in ``gilfree/_templates/{rust,cython}``, shipped in the package; the Rust
project depends on the sources of ``gilfree-pyo3`` (and ``gilfree-engine``) that travel with the
package too, in ``gilfree/_crates`` (:func:`crate_dir`), so that a project made from an installed
gilfree builds with ``pip install .`` reaching only PyPI and crates.io.

Template files end in ``.tmpl`` (so no tool mistakes them for this package's own code); in their
paths and contents ``__name__`` / ``{{name}}`` become the project's name, and a leading ``dot-``
becomes ``.``. The other placeholders are in :func:`_placeholders`.
"""

from __future__ import annotations

import argparse
import json
import keyword
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["ScaffoldError", "crate_dir", "get_crate_dir", "new_project", "validate_name", "vendor_headers"]

_HERE = Path(__file__).resolve().parent
TEMPLATES = _HERE / "_templates"
#: The crates a `gilfree new` Rust project builds against, found side by side in crate_dir().
CRATES = ("gilfree-engine", "gilfree-pyo3")

_NAME_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
_MAX_NAME = 64
# Rust keywords (strict, reserved, 2018+): the name is also the crate's and the #[pymodule] fn's.
_RUST_KEYWORDS_TEXT = """
    as async await break const continue crate dyn else enum extern false fn for gen if impl in let
    loop match mod move mut pub ref return self static struct super trait true try type unsafe use
    where while abstract become box do final macro override priv typeof unsized virtual yield
"""
_RUST_KEYWORDS = frozenset(_RUST_KEYWORDS_TEXT.split())
# Names that would shadow what the project itself imports or builds with, or clash with its
# layout (its tests/ directory) or with Rust's built-in crates.
_RESERVED_TEXT = """
    gilfree numpy pytest cython setuptools maturin pip wheel tests test build dist src include
    std core alloc proc_macro
"""
_RESERVED = frozenset(_RESERVED_TEXT.split())


class ScaffoldError(ValueError):
    """A project that `gilfree new` refuses to make (bad name, occupied directory)."""


def crate_dir() -> Path:
    """The directory that holds the sources of ``gilfree-pyo3`` and ``gilfree-engine`` (one
    subdirectory each) for this gilfree: what a Rust extension depends on to link to gilfree's
    runtime, as ``gilfree-pyo3 = { path = "<crate_dir>/gilfree-pyo3" }``.

    From a wheel, ``site-packages/gilfree/_crates``; from a source checkout (``maturin
    develop``), the checkout's ``crates/`` (``python/gilfree/_crates`` holds symlinks to it).
    :func:`gilfree.get_crate_dir` is the public face of this function.

    Raises:
        FileNotFoundError: neither has both crates (a broken install).

    Example:
        >>> from gilfree._scaffold import crate_dir
        >>> (crate_dir() / "gilfree-pyo3" / "Cargo.toml").is_file()
        True
    """
    candidates = (Path(__file__).parent / "_crates", _HERE.parent.parent / "crates")
    for base in candidates:
        if all((base / name / "Cargo.toml").is_file() for name in CRATES):
            # Through the symlinks of a checkout, to the real crates/ (not the link farm).
            return (base / CRATES[-1]).resolve().parent
    raise FileNotFoundError(
        "gilfree's crate sources (gilfree-pyo3, gilfree-engine) are not installed with this gilfree:"
        f" looked in {', '.join(str(c) for c in candidates)}. Reinstall gilfree from a wheel or an sdist."
    )


def get_crate_dir() -> str:
    """The directory of the Rust crates ``gilfree-pyo3`` and ``gilfree-engine`` that came with
    this gilfree, for Rust extensions to build against (as :func:`get_include` is for C).

    ``gilfree-pyo3`` is not on crates.io yet: depend on it by path, in your ``Cargo.toml``::

        gilfree-pyo3 = { path = "<get_crate_dir()>/gilfree-pyo3" }

    ``gilfree new NAME`` writes exactly that. From a wheel the directory is inside the installed
    package; from a source checkout (``maturin develop``) it is the checkout's ``crates/``.

    Raises:
        FileNotFoundError: the crate sources are not installed (a broken install).

    Example:
        >>> import os, gilfree
        >>> os.path.isfile(os.path.join(gilfree.get_crate_dir(), "gilfree-pyo3", "Cargo.toml"))
        True
    """
    return str(crate_dir())


def validate_name(name: str) -> str:
    """Return ``name`` if a project may be called that, else raise :class:`ScaffoldError`.

    The name is the project's, its Python module's and its Rust crate's: lowercase letters,
    digits and underscores, starting with a letter; not a Python or Rust keyword, not a module
    of the standard library, and not one of the modules the project uses (gilfree, numpy...).

    Example:
        >>> validate_name("edit_distance")
        'edit_distance'
        >>> validate_name("my-ext")
        Traceback (most recent call last):
        ...
        gilfree._scaffold.ScaffoldError: invalid project name 'my-ext': ... (e.g. 'my_ext')
    """
    if not _NAME_RE.match(name) or len(name) > _MAX_NAME:
        suggestion = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
        if suggestion and not suggestion[0].isalpha():
            suggestion = "x" + suggestion
        hint = f" (e.g. {suggestion!r})" if suggestion and _NAME_RE.match(suggestion) else ""
        limit = f", at most {_MAX_NAME} characters" if len(name) > _MAX_NAME else ""
        raise ScaffoldError(
            f"invalid project name {name!r}: use lowercase letters, digits and underscores,"
            f" starting with a letter{limit}{hint}"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ScaffoldError(f"invalid project name {name!r}: a Python keyword")
    if name in _RUST_KEYWORDS:
        raise ScaffoldError(f"invalid project name {name!r}: a Rust keyword (the name is also the crate's)")
    if name in _RESERVED or name in sys.stdlib_module_names:
        raise ScaffoldError(
            f"invalid project name {name!r}: it would shadow the module of that name"
            " (or clash with the project's layout); pick another"
        )
    return name


def _placeholders(name: str, cython: bool) -> dict[str, str]:
    from gilfree import __version__

    # `gilfree>=X.Y` for the project's dependency: this gilfree's major.minor.
    major_minor = ".".join(__version__.split(".")[:2])
    values = {
        "{{name}}": name,
        "{{gilfree_version}}": __version__,
        "{{gilfree_requirement}}": f"gilfree>={major_minor}",
    }
    if not cython:
        crates = crate_dir()
        # A TOML basic string (JSON's escapes are TOML's), forward slashes (Cargo takes them on
        # Windows too).
        values["{{gilfree_pyo3_path}}"] = json.dumps((crates / "gilfree-pyo3").as_posix(), ensure_ascii=False)
    return values


def _target_path(template: Path, root: Path, name: str) -> Path:
    parts = []
    for part in template.relative_to(root).parts:
        part = part.replace("__name__", name)
        if part.startswith("dot-"):
            part = "." + part[len("dot-") :]
        parts.append(part)
    parts[-1] = parts[-1].removesuffix(".tmpl")
    return Path(*parts)


def vendor_headers(dest: str | os.PathLike[str]) -> list[Path]:
    """Copy gilfree's C header(s) and Cython declarations into ``dest``: ``gilfree.h`` (all of
    :func:`gilfree.get_include`) at its top, ``gilfree/runtime.pxd`` (every ``.pxd`` of the
    package, with an empty ``gilfree/__init__.pxd``) below it. Returns the files written.

    A ``gilfree new --cython`` project builds against such copies (pip's isolated build
    environment has no gilfree to ask); after upgrading gilfree, refresh them with
    ``python -c "from gilfree._scaffold import vendor_headers; vendor_headers('gilfree_include')"``.

    Raises:
        FileNotFoundError: this gilfree has no ``gilfree.h`` or no ``.pxd`` (a broken install).
    """
    import gilfree

    include = Path(gilfree.get_include())
    headers = sorted(p for p in include.iterdir() if p.is_file()) if include.is_dir() else []
    pxds = sorted(p for p in _HERE.glob("*.pxd") if p.name != "__init__.pxd")
    if not any(p.name == "gilfree.h" for p in headers):
        raise FileNotFoundError(f"gilfree.h is not in gilfree.get_include() = {include}")
    if not pxds:
        raise FileNotFoundError(f"no Cython declarations (*.pxd) in {_HERE}")
    dest = Path(dest)
    (dest / "gilfree").mkdir(parents=True, exist_ok=True)
    written = []
    for src in headers:
        written.append(Path(shutil.copyfile(src, dest / src.name)))
    for src in pxds:
        written.append(Path(shutil.copyfile(src, dest / "gilfree" / src.name)))
    # `from gilfree cimport runtime` needs gilfree/ to be a package for Cython.
    init = dest / "gilfree" / "__init__.pxd"
    init.write_text(
        "# Makes gilfree/ a Cython package (gilfree's runtime.pxd is next to it).\n", encoding="utf-8"
    )
    written.append(init)
    return written


def _render(name: str, cython: bool, dest: Path) -> list[Path]:
    root = TEMPLATES / ("cython" if cython else "rust")
    values = _placeholders(name, cython)
    written = []
    for template in sorted(root.rglob("*.tmpl")):
        target = dest / _target_path(template, root, name)
        text = template.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(key, value)
        leftover = re.search(r"\{\{[a-z_]+\}\}", text)
        if leftover:  # a template bug, not the user's
            raise RuntimeError(f"{template}: unknown placeholder {leftover.group()}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    if cython:
        written += vendor_headers(dest / "gilfree_include")
    return written


def new_project(name: str, *, cython: bool = False, directory: str | os.PathLike[str] | None = None) -> Path:
    """Create the project ``name`` in ``directory`` (default ``./name``) and return its path.

    Rust (default): maturin + PyO3 + ``gilfree-pyo3``. ``cython=True``: setuptools + Cython with
    gilfree's header and ``.pxd`` copied into the project. Either way: one kernel, its tests and
    a README; ``pip install . && pytest`` in the new directory builds and checks it.

    Raises:
        ScaffoldError: an invalid name, or ``directory`` exists and is not an empty directory.
        FileNotFoundError: this gilfree lacks the crate sources or headers the project needs.
        OSError: the files could not be written (nothing is left behind).
    """
    validate_name(name)
    dest = Path(directory if directory is not None else name).absolute()
    if dest.exists() and not dest.is_dir():
        raise ScaffoldError(f"{dest} exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()):
        raise ScaffoldError(f"{dest} exists and is not empty: choose a new directory (--dir PATH)")
    if dest.is_dir():
        # Empty and perhaps somebody's mount point or a directory they made for it: fill in place.
        try:
            _render(name, cython, dest)
        except BaseException:
            for child in dest.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            raise
        return dest
    # Built beside the destination, then renamed: a failure leaves nothing half-made.
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest.parent))
    try:
        _render(name, cython, tmp)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _cmd_new(args: argparse.Namespace) -> int:
    kind = "Cython" if args.cython else "Rust"
    try:
        dest = new_project(args.name, cython=args.cython, directory=args.dir)
    except ScaffoldError as exc:
        print(f"gilfree new: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as exc:  # FileNotFoundError: a broken gilfree install
        print(f"gilfree new: error: {exc}", file=sys.stderr)
        return 1
    shown = os.path.relpath(dest) if not os.path.relpath(dest).startswith("..") else str(dest)
    print(f"created {shown}/: a {kind} extension with one GIL-free kernel on gilfree's runtime")
    if not args.cython:
        print(f"  gilfree-pyo3 from {crate_dir() / 'gilfree-pyo3'}")
    print("next:")
    print(f"  cd {shown}")
    print('  pip install ".[test]"')
    print("  pytest")
    return 0


def add_new_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``new`` subcommand to the ``gilfree`` command line's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "new",
        help="create a project with your own GIL-free kernel on gilfree's runtime (Rust or Cython)",
        description=(
            "Create a project with one GIL-free kernel on gilfree's shared pool: parallel, Ctrl-C-able,"
            " deterministic at any thread count, with its tests and a README. Rust (maturin, PyO3,"
            " gilfree-pyo3) by default, or Cython (setuptools) with --cython. Then: cd NAME &&"
            ' pip install ".[test]" && pytest'
        ),
    )
    p.add_argument("name", metavar="NAME", help="the project's name, also its module's (e.g. my_kernels)")
    p.add_argument("--cython", action="store_true", help="a Cython project instead of a Rust one")
    p.add_argument(
        "--dir", metavar="PATH", help="where to create it (default ./NAME); must not exist or be empty"
    )
    p.set_defaults(func=_cmd_new)
    return p
