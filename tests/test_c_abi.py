"""The C API: ``include/gilfree.h`` agrees with the runtime table it mirrors
(``crates/gilfree-pyo3/src/abi.rs``), ``gilfree.get_include()`` finds it, the wheel's files are in
the package, and a tiny C extension compiled against the header works against the real runtime
and refuses a runtime of another ABI version with an ImportError naming both.

The agreement is checked twice: by reading both files (every field of every table, in order, with
its type, the version numbers and the capsule name), and by the compiled extension, whose
``sizeof(GilfreeRuntimeApi)`` must equal the table size the runtime reports.
"""

from __future__ import annotations

import ctypes
import doctest
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import gilfree
from gilfree import _include

ROOT = Path(__file__).resolve().parent.parent
ABI_RS = ROOT / "crates" / "gilfree-pyo3" / "src" / "abi.rs"
BACKEND_RS = ROOT / "crates" / "gilfree-engine" / "src" / "backend.rs"
HEADER = Path(gilfree.get_include()) / "gilfree.h"
PXD = Path(gilfree.__file__).parent / "runtime.pxd"

needs_sources = pytest.mark.skipif(
    not (ABI_RS.is_file() and BACKEND_RS.is_file()),
    reason="the Rust sources are not here (an installed gilfree)",
)


# --- reading the two definitions ------------------------------------------------------------------

# Rust types of the ABI -> their C spelling in the header.
RUST_TO_C = {
    "u32": "uint32_t",
    "u64": "uint64_t",
    "usize": "size_t",
    "c_int": "int",
    "*const AtomicU64": "const uint64_t *",
    "*const AtomicBool": "const unsigned char *",
    "*mut PyObject": "PyObject *",
    "*const c_char": "const char *",
    "*mut c_void": "void *",
    "*const c_void": "const void *",
    "WorkerBody": "gilfree_worker_body",
    "TaskRun": "gilfree_task_run",
    "ChunkBody": "gilfree_chunk_body",
    "*mut Broadcast": "gilfree_broadcast *",
    "ForeignJob": "GilfreeForeignJob",
    "*const TaskCtx": "const GilfreeTaskCtx *",
}


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Splits ``text`` on ``sep`` outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _rust_type(t: str) -> str:
    """A Rust ABI type in the header's C spelling (function pointers as ``R (*)(A, B)``)."""
    t = " ".join(t.split())
    m = re.fullmatch(r'unsafe extern "C" fn\s*\((.*)\)\s*(?:->\s*(.+))?', t)
    if m:
        params = [_rust_type(p.split(":", 1)[1]) for p in _split_top(m.group(1))]
        ret = _rust_type(m.group(2)) if m.group(2) else "void"
        return f"{ret} (*)({', '.join(params) or 'void'})"
    if t not in RUST_TO_C:
        raise AssertionError(f"a Rust type with no C spelling in this test: {t!r}")
    return RUST_TO_C[t]


def _strip_rust_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def rust_struct(source: str, name: str) -> list[tuple[str, str]]:
    """The fields of ``#[repr(C)] pub struct name`` in order, as (name, C type)."""
    src = _strip_rust_comments(source)
    m = re.search(r"pub struct " + name + r"\s*\{(.*?)\n\}", src, re.S)
    assert m, f"no struct {name}"
    fields = []
    for part in _split_top(m.group(1)):
        fm = re.fullmatch(r"pub (\w+)\s*:\s*(.+)", " ".join(part.split()), re.S)
        assert fm, part
        fields.append((fm.group(1), _rust_type(fm.group(2))))
    return fields


def rust_alias(source: str, name: str) -> str:
    m = re.search(r"pub type " + name + r"\s*=\s*(.*?);", _strip_rust_comments(source), re.S)
    assert m, f"no type {name}"
    return _rust_type(m.group(1))


def rust_const(source: str, name: str) -> str:
    m = re.search(r"pub const " + name + r"\s*:[^=]*=\s*(.*?);", source)
    assert m, f"no const {name}"
    return m.group(1).strip()


def _c_type(decl: str) -> tuple[str, str]:
    """A C declaration (no trailing ';') as (name, type), with parameter names dropped and
    pointers spelled ``T *``."""
    decl = " ".join(decl.split())
    m = re.fullmatch(r"(.+?)\(\s*\*\s*(\w+)\s*\)\s*\((.*)\)", decl)
    if m:
        ret, name, params = m.groups()
        types = [_c_type(p)[1] if p.strip() != "void" else "void" for p in _split_top(params)]
        return name, f"{_c_spell(ret)} (*)({', '.join(types) or 'void'})"
    m = re.fullmatch(r"(.+?)(\w+)", decl)
    assert m, decl
    return m.group(2), _c_spell(m.group(1))


def _c_spell(t: str) -> str:
    return re.sub(r"\s*\*\s*", " *", t.strip()).replace("* *", "**").strip()


def _strip_c_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", text, flags=re.S))


def c_struct(source: str, name: str) -> list[tuple[str, str]]:
    """The fields of ``typedef struct name { ... } name;`` in order, as (name, type)."""
    m = re.search(
        r"typedef struct " + name + r"\s*\{(.*?)\}\s*" + name + ";", _strip_c_comments(source), re.S
    )
    assert m, f"no struct {name}"
    return [_c_type(d) for d in m.group(1).split(";") if d.strip()]


def c_typedef(source: str, name: str) -> str:
    m = re.search(r"typedef ([^;]*\(\s*\*\s*" + name + r"\s*\)[^;]*);", _strip_c_comments(source))
    assert m, f"no typedef {name}"
    return _c_type(m.group(1))[1]


def c_define(source: str, name: str) -> str:
    m = re.search(r"#define " + name + r"\s+(.+)", source)
    assert m, f"no #define {name}"
    return m.group(1).strip()


@needs_sources
@pytest.mark.parametrize(
    ("rust", "c"),
    [("RuntimeApi", "GilfreeRuntimeApi"), ("TaskCtx", "GilfreeTaskCtx"), ("ForeignJob", "GilfreeForeignJob")],
)
def test_header_tables_match_abi_rs_field_for_field(rust: str, c: str) -> None:
    rust_fields = rust_struct(ABI_RS.read_text(encoding="utf-8"), rust)
    c_fields = c_struct(HEADER.read_text(encoding="utf-8"), c)
    assert [n for n, _ in c_fields] == [n for n, _ in rust_fields], "field names or order differ"
    assert c_fields == rust_fields, "field types differ"
    if rust == "RuntimeApi":
        assert [n for n, _ in rust_fields[:3]] == ["abi_major", "abi_minor", "size"]


@needs_sources
@pytest.mark.parametrize(
    ("source", "rust", "c"),
    [
        (ABI_RS, "ChunkBody", "gilfree_chunk_body"),
        (BACKEND_RS, "WorkerBody", "gilfree_worker_body"),
        (BACKEND_RS, "TaskRun", "gilfree_task_run"),
    ],
)
def test_header_callback_types_match(source: Path, rust: str, c: str) -> None:
    assert c_typedef(HEADER.read_text(encoding="utf-8"), c) == rust_alias(
        source.read_text(encoding="utf-8"), rust
    )


@needs_sources
def test_header_versions_and_capsule_name_match() -> None:
    rs = ABI_RS.read_text(encoding="utf-8")
    h = HEADER.read_text(encoding="utf-8")
    assert c_define(h, "GILFREE_ABI_MAJOR") == rust_const(rs, "ABI_MAJOR")
    assert c_define(h, "GILFREE_ABI_MINOR") == rust_const(rs, "ABI_MINOR")
    assert c_define(h, "GILFREE_CAPSULE_NAME") == rust_const(rs, "CAPSULE_NAME").removeprefix("c")
    # The capsule really is there, under that name, in the module the name says.
    assert type(gilfree._native._RUNTIME_API).__name__ == "PyCapsule"


def test_the_parser_sees_a_difference() -> None:
    # The comparison above is only as good as the parsing: a swapped pair and a changed
    # parameter type must both show.
    h = "typedef struct T { int (*a)(size_t n); size_t b; } T;"
    assert c_struct(h, "T") == [("a", "int (*)(size_t)"), ("b", "size_t")]
    rs = (
        "pub struct T {\n    /// doc\n    pub b: usize,\n"
        '    pub a: unsafe extern "C" fn(n: usize) -> c_int,\n}'
    )
    assert rust_struct(rs, "T") == [("b", "size_t"), ("a", "int (*)(size_t)")]
    assert rust_struct(rs, "T") != c_struct(h, "T")
    changed = "typedef struct T { size_t b; int (*a)(uint64_t n); } T;"
    assert c_struct(changed, "T") == [("b", "size_t"), ("a", "int (*)(uint64_t)")]
    assert rust_struct(rs, "T") != c_struct(changed, "T")


# --- get_include, the Cython declarations, the files in the package ------------------------------


def test_get_include() -> None:
    include = Path(gilfree.get_include())
    assert include.is_absolute()
    assert (include / "gilfree.h").is_file()
    assert include.parent == Path(gilfree.__file__).resolve().parent
    assert "get_include" in gilfree.__all__
    failed, attempted = doctest.testmod(_include, optionflags=doctest.ELLIPSIS)
    assert attempted > 0
    assert failed == 0


def test_pxd_declares_every_helper_of_the_header() -> None:
    # The Cython names are the header's without "gilfree_" (gilfree_import is import_gilfree).
    pxd = PXD.read_text(encoding="utf-8")
    h = _strip_c_comments(HEADER.read_text(encoding="utf-8"))
    helpers = set(re.findall(r"static inline [\w\s\*]*?\b(gilfree_[a-z_]+[a-z])\s*\(", h))
    assert helpers == {
        "gilfree_import",
        "gilfree_num_threads",
        "gilfree_set_num_threads",
        "gilfree_epoch",
        "gilfree_interrupted",
        "gilfree_parallel_for",
        "gilfree_raise_interrupted",
        "gilfree_kernel_error",
    }
    declared = set(re.findall(r'\w+ "(gilfree_\w+)"\(', pxd))
    assert declared == helpers
    assert 'cdef extern from "gilfree.h"' in pxd


# --- a C extension compiled against the header, against the real runtime -------------------------

PROBE_C = r"""
#include "gilfree.h"

struct sum_job { unsigned long long *slots; size_t chunk; size_t fail_at; };

static int sum_body(void *data, size_t start, size_t end)
{
    struct sum_job *job = (struct sum_job *)data;
    unsigned long long s = 0;
    for (size_t i = start; i < end; i++) {
        if (i == job->fail_at) return 1;
        s += i;
    }
    job->slots[start / job->chunk] = s;
    return 0;
}

static PyObject *parallel_sum(PyObject *self, PyObject *args)
{
    Py_ssize_t n, chunk, threads, fail_at;
    int with_gil;
    if (!PyArg_ParseTuple(args, "nnnnp", &n, &chunk, &threads, &fail_at, &with_gil)) return NULL;
    size_t slots = chunk > 0 ? ((size_t)n + (size_t)chunk - 1) / (size_t)chunk : 1;
    struct sum_job job = {calloc(slots ? slots : 1, sizeof(unsigned long long)), (size_t)chunk,
                          fail_at < 0 ? (size_t)-1 : (size_t)fail_at};
    if (job.slots == NULL) return PyErr_NoMemory();
    int rc;
    if (with_gil) {
        rc = gilfree_parallel_for("probe.sum", (size_t)n, (size_t)chunk, (size_t)threads, sum_body, &job);
    } else {
        Py_BEGIN_ALLOW_THREADS
        rc = gilfree_parallel_for("probe.sum", (size_t)n, (size_t)chunk, (size_t)threads, sum_body, &job);
        Py_END_ALLOW_THREADS
    }
    unsigned long long total = 0;
    for (size_t i = 0; i < slots; i++) total += job.slots[i];
    free(job.slots);
    if (rc < 0) return NULL;
    return PyLong_FromUnsignedLongLong(total);
}

/* A body that runs a parallel_for of its own over its chunk, on the pool worker it runs on. */
struct nested_job { unsigned long long *slots; size_t chunk; };

static int nested_body(void *data, size_t start, size_t end)
{
    struct nested_job *outer = (struct nested_job *)data;
    size_t inner_chunk = 97;
    size_t len = end - start, slots = (len + inner_chunk - 1) / inner_chunk;
    struct sum_job inner = {calloc(slots ? slots : 1, sizeof(unsigned long long)), inner_chunk, (size_t)-1};
    unsigned long long s = 0;
    if (inner.slots == NULL) return 2;
    if (gilfree_parallel_for("probe.inner", len, inner_chunk, 0, sum_body, &inner) < 0) {
        free(inner.slots);
        return 3;
    }
    for (size_t i = 0; i < slots; i++) s += inner.slots[i];
    free(inner.slots);
    /* The inner loop summed 0..len; shift to start..end. */
    outer->slots[start / outer->chunk] = s + (unsigned long long)start * len;
    return 0;
}

static PyObject *nested_sum(PyObject *self, PyObject *args)
{
    Py_ssize_t n, chunk;
    int rc;
    if (!PyArg_ParseTuple(args, "nn", &n, &chunk)) return NULL;
    size_t slots = ((size_t)n + (size_t)chunk - 1) / (size_t)chunk;
    struct nested_job job = {calloc(slots ? slots : 1, sizeof(unsigned long long)), (size_t)chunk};
    if (job.slots == NULL) return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    rc = gilfree_parallel_for("probe.nested", (size_t)n, (size_t)chunk, 0, nested_body, &job);
    Py_END_ALLOW_THREADS
    unsigned long long total = 0;
    for (size_t i = 0; i < slots; i++) total += job.slots[i];
    free(job.slots);
    if (rc < 0) return NULL;
    return PyLong_FromUnsignedLongLong(total);
}

/* A body that works until Ctrl-C (or gilfree.interrupt()) and then returns 1, as documented. */
static uint64_t spin_since;

static int spin_body(void *data, size_t start, size_t end)
{
    volatile unsigned long long x = 0;
    for (;;) {
        if (gilfree_interrupted(spin_since)) return 1;
        for (int i = 0; i < 10000; i++) x += (unsigned long long)i;
    }
    return 0;
}

static PyObject *spin(PyObject *self, PyObject *args)
{
    Py_ssize_t threads;
    int rc;
    if (!PyArg_ParseTuple(args, "n", &threads)) return NULL;
    spin_since = gilfree_epoch();
    Py_BEGIN_ALLOW_THREADS
    rc = gilfree_parallel_for("probe.spin", 64, 1, (size_t)threads, spin_body, NULL);
    Py_END_ALLOW_THREADS
    if (rc < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *facts(PyObject *self, PyObject *unused)
{
    return Py_BuildValue("{s:I,s:I,s:n,s:n,s:I,s:I,s:n}",
                         "abi_major", (unsigned)gilfree_runtime_api->abi_major,
                         "abi_minor", (unsigned)gilfree_runtime_api->abi_minor,
                         "size", (Py_ssize_t)gilfree_runtime_api->size,
                         "sizeof", (Py_ssize_t)sizeof(GilfreeRuntimeApi),
                         "header_major", (unsigned)GILFREE_ABI_MAJOR,
                         "header_minor", (unsigned)GILFREE_ABI_MINOR,
                         "num_threads", (Py_ssize_t)gilfree_num_threads());
}

static PyObject *epoch(PyObject *self, PyObject *unused)
{
    return PyLong_FromUnsignedLongLong(gilfree_epoch());
}

static PyObject *interrupted(PyObject *self, PyObject *arg)
{
    unsigned long long since = PyLong_AsUnsignedLongLong(arg);
    if (since == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    return PyBool_FromLong(gilfree_interrupted(since));
}

static PyObject *set_threads(PyObject *self, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    return PyLong_FromLong(gilfree_set_num_threads((size_t)n));
}

static PyObject *kernel_error(PyObject *self, PyObject *unused)
{
    PyObject *t = gilfree_kernel_error();
    Py_INCREF(t);
    return t;
}

static PyObject *raise_interrupted(PyObject *self, PyObject *unused)
{
    return gilfree_raise_interrupted("probe.stop"), NULL;
}

static PyObject *import_again(PyObject *self, PyObject *unused)
{
    if (gilfree_import() < 0) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"parallel_sum", parallel_sum, METH_VARARGS, NULL},
    {"nested_sum", nested_sum, METH_VARARGS, NULL},
    {"spin", spin, METH_VARARGS, NULL},
    {"facts", facts, METH_NOARGS, NULL},
    {"epoch", epoch, METH_NOARGS, NULL},
    {"interrupted", interrupted, METH_O, NULL},
    {"set_threads", set_threads, METH_O, NULL},
    {"kernel_error", kernel_error, METH_NOARGS, NULL},
    {"raise_interrupted", raise_interrupted, METH_NOARGS, NULL},
    {"import_again", import_again, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "abiprobe", NULL, -1, methods,
                                 NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_abiprobe(void)
{
    PyObject *m;
    if (gilfree_import() < 0) return NULL;
    m = PyModule_Create(&def);
#ifdef Py_GIL_DISABLED
    if (m != NULL) PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);
#endif
    return m;
}
"""


def _compiler() -> str | None:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) or shutil.which("cc") or shutil.which("gcc")


def _python_headers() -> Path:
    return Path(sysconfig.get_paths()["include"])


needs_compiler = pytest.mark.skipif(
    _compiler() is None or not (_python_headers() / "Python.h").is_file(),
    reason="needs a C compiler and Python's headers",
)


def build_probe(tmp: Path, header: Path = HEADER) -> Path:
    """Compiles PROBE_C against ``header`` (its directory first on the include path) into
    ``tmp/abiprobe<EXT_SUFFIX>``. Warnings are errors: the header must compile cleanly."""
    src = tmp / "abiprobe.c"
    src.write_text(PROBE_C, encoding="utf-8")
    out = tmp / ("abiprobe" + sysconfig.get_config_var("EXT_SUFFIX"))
    cc = _compiler()
    assert cc is not None
    cmd = [cc, "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
           "-Wno-missing-field-initializers", "-Wno-cast-function-type",
           f"-I{header.parent}", f"-I{_python_headers()}", str(src), "-o", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
    return out


def run_probe(tmp: Path, code: str) -> subprocess.CompletedProcess[str]:
    script = f"import json, sys\nsys.path.insert(0, {str(tmp)!r})\n" + textwrap.dedent(code)
    env = {k: v for k, v in os.environ.items() if k not in ("GILFREE_NUM_THREADS", "OMP_NUM_THREADS")}
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False, env=env
    )


@needs_compiler
def test_a_c_extension_on_the_runtime(tmp_path: Path) -> None:
    build_probe(tmp_path)
    proc = run_probe(
        tmp_path,
        """
        import gilfree
        import abiprobe as p

        out = {"facts": p.facts(), "budget": gilfree.get_num_threads()}
        p.import_again()  # idempotent
        n = 1_000_003
        want = n * (n - 1) // 2
        out["sums"] = [p.parallel_sum(n, 1000, t, -1, g) == want for t in (0, 1, 2, 3) for g in (0, 1)]
        out["empty"] = p.parallel_sum(0, 1000, 0, -1, False)
        # parallel_for inside a body runs on that pool worker (no wait for its own pool).
        out["nested"] = p.nested_sum(100_003, 10_000) == 100_003 * 100_002 // 2
        def error(*args, f=p.parallel_sum):
            try:
                f(*args)
            except BaseException as exc:
                return [type(exc).__name__, str(exc), isinstance(exc, gilfree.KernelError)]
            return None
        out["body_fails"] = [error(n, 1000, t, 500_000, g) for t in (0, 1) for g in (0, 1)]
        out["chunk0"] = error(n, 0, 0, -1, False)
        out["after_failure"] = p.parallel_sum(n, 1000, 0, -1, False) == want
        out["kernel_error"] = p.kernel_error() is gilfree.KernelError
        e0 = p.epoch()
        out["epoch"] = [p.interrupted(e0)]
        gilfree.interrupt()
        out["epoch"] += [p.interrupted(e0), p.epoch() > e0, p.interrupted(p.epoch())]
        out["raise_interrupted"] = None
        try:
            p.raise_interrupted()
        except KeyboardInterrupt as exc:
            out["raise_interrupted"] = str(exc)
        import threading
        out["spin"] = []
        for t in (0, 1, 2):
            timer = threading.Timer(0.2, gilfree.interrupt)
            timer.start()
            out["spin"].append(error(t, f=p.spin))
            timer.join()
        out["set"] = [p.set_threads(3), gilfree.get_num_threads(), p.facts()["num_threads"],
                      p.set_threads(0), p.set_threads(1025), gilfree.get_num_threads()]
        gilfree.set_num_threads(2)
        out["set"].append(p.facts()["num_threads"])
        print(json.dumps(out))
        """,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    facts = out["facts"]
    assert (facts["abi_major"], facts["abi_minor"]) == (facts["header_major"], facts["header_minor"])
    assert facts["size"] == facts["sizeof"], "the header's table and the runtime's differ in size"
    assert facts["num_threads"] == out["budget"]
    assert all(out["sums"]), out["sums"]
    assert out["empty"] == 0
    assert out["nested"] is True
    for failure in out["body_fails"]:
        assert failure is not None
        assert failure[0] == "KernelError", failure
        assert failure[2], "not the very class gilfree exports"
        assert "probe.sum" in failure[1], failure
    assert out["chunk0"] is not None
    assert out["chunk0"][0] == "ValueError", out["chunk0"]
    assert out["after_failure"]
    assert out["kernel_error"]
    assert out["epoch"] == [False, True, True, False]
    assert out["raise_interrupted"] is not None
    assert "probe.stop" in out["raise_interrupted"]
    for stopped in out["spin"]:  # a body that stopped on Ctrl-C and returned 1, as documented
        assert stopped is not None
        assert stopped[0] == "KeyboardInterrupt", stopped
        assert "probe.spin" in stopped[1], stopped
    assert out["set"] == [0, 3, 3, -1, -1, 3, 2]


@needs_compiler
@pytest.mark.parametrize(("major", "minor"), [(1, 99), (2, 0), (0, 0)])
def test_an_abi_mismatch_is_a_clear_import_error(tmp_path: Path, major: int, minor: int) -> None:
    # The probe built from a copy of the header that claims another ABI version: what an extension
    # built against another gilfree would be.
    text = HEADER.read_text(encoding="utf-8")
    text = re.sub(r"#define GILFREE_ABI_MAJOR \d+", f"#define GILFREE_ABI_MAJOR {major}", text)
    text = re.sub(r"#define GILFREE_ABI_MINOR \d+", f"#define GILFREE_ABI_MINOR {minor}", text)
    inc = tmp_path / "include"
    inc.mkdir()
    (inc / "gilfree.h").write_text(text, encoding="utf-8")
    build_probe(tmp_path, inc / "gilfree.h")
    proc = run_probe(
        tmp_path,
        """
        try:
            import abiprobe
        except ImportError as exc:
            print(json.dumps(["ImportError", str(exc)]))
        else:
            print(json.dumps(["imported", ""]))
        """,
    )
    assert proc.returncode == 0, proc.stderr
    kind, message = json.loads(proc.stdout.splitlines()[-1])
    runtime = "{}.{}".format(*runtime_version())
    assert kind == "ImportError", message
    assert f"ABI {major}.{minor}" in message, message  # what the extension was built for
    assert f"ABI {runtime}" in message, message  # what is installed
    assert "rebuild" in message


def runtime_version() -> tuple[int, int]:
    """The runtime's own ABI version, read from the capsule with ctypes (no compiler involved)."""
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    ptr = get(gilfree._native._RUNTIME_API, b"gilfree._native._RUNTIME_API")
    major, minor = (ctypes.c_uint32 * 2).from_address(ptr)
    return int(major), int(minor)
