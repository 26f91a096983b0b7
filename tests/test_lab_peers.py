"""The lab's Numba and Cython peers: same answers as the kernels, the GIL released, clean refusal
when a peer cannot run, and the Cython build compiled once and then reused from its cache.

Tests of a peer skip when its package is missing (CI installs only the `test` extra); the Cython
build goes to a per-session temporary cache directory and is compiled once per session (~5-10 s).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gilfree.lab import GilMonitor
from gilfree.lab._peers import PEERS, PeerImpl, PeerUnavailable
from gilfree.lab._workloads import WORKLOADS

#: Task scale per workload for the answer checks: small, a few ms per task at most.
SMALL = {"mandelbrot": 0.05, "count_primes": 0.02, "spectral_norm": 0.1, "nbody": 0.05, "sum": 0.05}
PACKAGE = {"numba": "numba", "cython": "Cython"}

Loader = Callable[[str, str], PeerImpl]


def _ignore(message: str) -> None:
    pass


@pytest.fixture(scope="session")
def cython_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private cache directory for the whole session (the Cython build is compiled into it once)."""
    root = tmp_path_factory.mktemp("gilfree-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GILFREE_CACHE_DIR", str(root))
        yield root


@pytest.fixture
def peer_of(cython_cache: Path) -> Loader:
    def load(peer: str, workload: str) -> PeerImpl:
        pytest.importorskip(PACKAGE[peer])
        try:
            return PEERS[peer](workload, _ignore)
        except PeerUnavailable as e:  # e.g. no C compiler here
            pytest.skip(f"{peer}: {e}")

    return load


@pytest.mark.parametrize("workload", list(WORKLOADS))
@pytest.mark.parametrize("peer", list(PEERS))
def test_answers_equal_the_kernels(peer: str, workload: str, peer_of: Loader) -> None:
    impl = peer_of(peer, workload)
    w = WORKLOADS[workload]
    assert impl.name == peer
    assert impl.version
    assert impl.setup_seconds >= 0.0
    if workload == "nbody":
        assert impl.task_parallel is None
        assert impl.parallel_note
    for task in w.tasks(3, scale=SMALL[workload]):
        expected = w.canon(w.native(task, 1))
        assert w.canon(impl.task_nogil(task)) == expected, task
        if impl.task_parallel is not None:
            assert w.canon(impl.task_parallel(task, 2)) == expected, task
            assert w.canon(impl.task_parallel(task, 1)) == expected, task


@pytest.mark.parametrize("peer", list(PEERS))
def test_mandelbrot_counts_are_exact_on_a_full_image(peer: str, peer_of: Loader) -> None:
    # The default window at the default size: every count equal, bit for bit (no FMA, no fast math).
    impl = peer_of(peer, "mandelbrot")
    w = WORKLOADS["mandelbrot"]
    (task,) = w.tasks(1)
    counts = impl.task_nogil(task)
    assert counts.shape == (task[1], task[0])
    assert w.canon(counts) == w.canon(w.native(task, 1))


@pytest.mark.parametrize("workload", ["mandelbrot", "count_primes", "spectral_norm", "nbody", "sum"])
@pytest.mark.parametrize("peer", list(PEERS))
def test_task_nogil_releases_the_gil(peer: str, workload: str, peer_of: Loader) -> None:
    # A share is only meaningful over a run much longer than the main thread's own bookkeeping
    # (submitting, waking workers): 8 nbody tasks at scale 0.5 once lasted 1.6 ms, two heartbeats,
    # and read 0.62. So the pool's threads are started before the monitor, and the tasks are run
    # in batches of 8 until the run has lasted 0.3 s.
    impl = peer_of(peer, workload)
    tasks = WORKLOADS[workload].tasks(8, scale=0.5)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(impl.task_nogil, tasks[:2]))  # warm; both workers started
        with GilMonitor() as gil:
            end = time.perf_counter() + 0.3
            while time.perf_counter() < end:
                list(pool.map(impl.task_nogil, tasks))
    assert gil.reading.beats >= 100, gil.reading
    assert gil.reading.share < 0.5, gil.reading


@pytest.mark.parametrize("peer", list(PEERS))
def test_parallel_rejects_bad_thread_counts_and_caps_large_ones(peer: str, peer_of: Loader) -> None:
    impl = peer_of(peer, "count_primes")
    assert impl.task_parallel is not None
    with pytest.raises(ValueError, match="threads"):
        impl.task_parallel((1000,), 0)
    assert impl.task_parallel((1000,), 64) == 168


@pytest.mark.parametrize("peer", list(PEERS))
def test_missing_package_makes_the_peer_unavailable(peer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, PACKAGE[peer], None)  # `import numba` now fails
    with pytest.raises(PeerUnavailable, match=r"is not installed \(pip install 'gilfree\[peers\]'\)"):
        PEERS[peer]("mandelbrot", _ignore)


@pytest.mark.parametrize("peer", list(PEERS))
def test_unknown_workload_is_a_value_error(peer: str) -> None:
    with pytest.raises(ValueError, match="unknown workload"):
        PEERS[peer]("no-such-workload", _ignore)


def test_numba_compiles_once_per_process(peer_of: Loader) -> None:
    first = peer_of("numba", "sum")
    notes: list[str] = []
    again = PEERS["numba"]("sum", notes.append)
    assert again.setup_seconds == 0.0
    assert notes == []
    task = WORKLOADS["sum"].tasks(1, scale=0.01)[0]
    assert again.task_nogil(task) == first.task_nogil(task)


def test_cython_build_is_reused_from_the_cache(peer_of: Loader, cython_cache: Path) -> None:
    from gilfree.lab import _peers_cython

    peer_of("cython", "sum")
    (built,) = cython_cache.glob("*/_gilfree_peers_*")
    mtime = built.stat().st_mtime_ns
    builds = _peers_cython.builds
    _peers_cython._forget()  # as a new process would: nothing loaded, the cache on disk
    notes: list[str] = []
    again = PEERS["cython"]("nbody", notes.append)
    assert again.setup_seconds == 0.0
    assert notes == []
    assert _peers_cython.builds == builds
    assert built.stat().st_mtime_ns == mtime
    assert not list(cython_cache.glob("tmp-*"))  # the build's scratch directory is gone


def _fake_compiler(tmp_path: Path, script: str) -> str:
    path = tmp_path / "cc"
    path.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script stands in for the compiler")
def test_cython_compiler_failure_is_unavailable_with_a_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("Cython")
    from gilfree.lab import _peers_cython

    monkeypatch.setenv("GILFREE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(
        "CC", _fake_compiler(tmp_path, 'echo "fake-cc: error: no compiler here" >&2\nexit 1\n')
    )
    monkeypatch.setattr(_peers_cython, "_LOADED", {})
    monkeypatch.setattr(_peers_cython, "_FAILED", {})
    notes: list[str] = []
    with pytest.raises(PeerUnavailable, match="fake-cc: error: no compiler here") as info:
        PEERS["cython"]("sum", notes.append)
    assert len(notes) == 1
    assert "compiling the Cython peers" in notes[0]
    (log,) = (tmp_path / "cache").glob("build-*.log")
    assert str(log) in str(info.value)
    assert "== with OpenMP ==" in log.read_text(encoding="utf-8")
    assert not list((tmp_path / "cache").glob("tmp-*"))
    with pytest.raises(PeerUnavailable):  # remembered: no second attempt in this process
        PEERS["cython"]("mandelbrot", notes.append)
    assert len(notes) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script stands in for the compiler")
def test_cython_without_openmp_skips_only_prange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("Cython")
    from gilfree.lab import _peers_cython

    gcc = os.environ.get("CC", "cc")
    script = f"""for a in "$@"; do
  [ "$a" = "-fopenmp" ] && {{ echo "fake-cc: error: unsupported option -fopenmp" >&2; exit 1; }}
done
exec {gcc} "$@"
"""
    monkeypatch.setenv("GILFREE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", _fake_compiler(tmp_path, script))
    monkeypatch.setattr(_peers_cython, "_LOADED", {})
    monkeypatch.setattr(_peers_cython, "_FAILED", {})
    try:
        impl = PEERS["cython"]("count_primes", _ignore)
    except PeerUnavailable as e:
        pytest.skip(f"no working C compiler: {e}")
    assert impl.task_parallel is None
    assert "OpenMP" in impl.parallel_note
    assert "unsupported option -fopenmp" in impl.parallel_note
    assert impl.task_nogil((1000,)) == 168


def _session_build(cython_cache: Path) -> Path:
    (build,) = [p for p in cython_cache.iterdir() if p.is_dir() and not p.name.startswith("tmp-")]
    return build


def test_cython_build_that_loses_a_race_loads_the_winners(
    peer_of: Loader, cython_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gilfree.lab import _peers_cython

    peer_of("cython", "sum")
    winner = _session_build(cython_cache)
    root = tmp_path / "cache"
    monkeypatch.setenv("GILFREE_CACHE_DIR", str(root))
    monkeypatch.setattr(_peers_cython, "_LOADED", {})
    monkeypatch.setattr(_peers_cython, "_FAILED", {})

    def compile_while_another_process_finishes(cwd: Path, name: str, openmp: bool) -> tuple[Path, str]:
        shutil.copytree(winner, root / winner.name)  # the other process renames its build first
        (cwd / "final").mkdir()
        ours = cwd / "final" / "ours.so"
        ours.write_bytes(b"")
        return ours, "built"

    monkeypatch.setattr(_peers_cython, "_compile", compile_while_another_process_finishes)
    impl = PEERS["cython"]("sum", _ignore)
    task = WORKLOADS["sum"].tasks(1, scale=0.01)[0]
    assert impl.task_nogil(task) == WORKLOADS["sum"].native(task, 1)
    assert sorted(p.name for p in (root / winner.name).iterdir()) == sorted(p.name for p in winner.iterdir())
    assert not list(root.glob("tmp-*"))


def test_cython_broken_cache_entry_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cython = pytest.importorskip("Cython")
    from gilfree.lab import _peers_cython

    monkeypatch.setenv("GILFREE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_peers_cython, "_LOADED", {})
    monkeypatch.setattr(_peers_cython, "_FAILED", {})
    entry = tmp_path / _peers_cython._key(cython.__version__)
    entry.mkdir()
    (entry / "build.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(PeerUnavailable, match="delete it to rebuild"):
        PEERS["cython"]("sum", _ignore)
