"""gilfree.dask on a real distributed.LocalCluster, in-process (threads) and with worker processes:
results against NumPy on the gathered array for several chunkings, the same bits on repeated
runs, the pool plugin, and a cancelled / interrupted graph that stops."""

from __future__ import annotations

import doctest
import json
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

from _sigint import CHILD_PRELUDE, IDLE_CPU_MAX_S, LATENCY_SANITY_S, interrupt_child, posix_only  # noqa: E402

import gilfree  # noqa: E402
import gilfree.dask as gd  # noqa: E402
from gilfree._info import num_threads_setting  # noqa: E402

pytestmark = [
    pytest.mark.timeout(180),
    # distributed's own shutdown chatter (closed comms, leaked-semaphore notes) is not ours.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore:Port .* is already in use:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*Creating scratch directories.*:UserWarning"),
]


def _cluster(**kw: Any) -> Iterator[Any]:
    cluster = distributed.LocalCluster(dashboard_address=None, silence_logs=50, **kw)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def threads_client() -> Iterator[Any]:
    yield from _cluster(processes=False, n_workers=1, threads_per_worker=2)


@pytest.fixture(scope="module")
def procs_client() -> Iterator[Any]:
    yield from _cluster(processes=True, n_workers=2, threads_per_worker=1)


@pytest.fixture(params=["threads", "processes"])
def client(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("threads_client" if request.param == "threads" else "procs_client")


RNG = np.random.default_rng(12)
A1 = RNG.normal(3.0, 2.0, size=200_003)
A2 = RNG.normal(size=(301, 257))
I1 = RNG.integers(-1000, 1000, size=100_001)

CHUNKS_1D = [200_003, 50_000, 33_333, 7_001]
CHUNKS_2D = [(301, 257), (100, 64), (37, 257), (301, 50)]


OPS = ["sum", "mean", "var", "std", "min", "max", "argmin", "argmax"]
EXACT = {"min", "max", "argmin", "argmax"}


def _check_all(got: Sequence[Any], want: Sequence[Any]) -> None:
    for op, g, w in zip(OPS, got, want, strict=True):
        assert np.shape(g) == np.shape(w), op
        if op in EXACT:
            np.testing.assert_array_equal(g, w, err_msg=op)
        else:
            np.testing.assert_allclose(g, w, rtol=1e-12, err_msg=op)


@pytest.mark.parametrize("chunks", CHUNKS_1D)
def test_1d_against_numpy(client: Any, chunks: int) -> None:
    x = da.from_array(A1, chunks=chunks)
    got = client.gather(client.compute([getattr(gd, op)(x) for op in OPS]))
    _check_all(got, [getattr(np, op)(A1) for op in OPS])


def test_1d_axis_0_and_keepdims(threads_client: Any) -> None:
    x = da.from_array(A1, chunks=33_333)
    got = threads_client.gather(threads_client.compute([getattr(gd, op)(x, axis=0) for op in OPS]))
    _check_all(got, [getattr(np, op)(A1, axis=0) for op in OPS])
    got = threads_client.gather(
        threads_client.compute([getattr(gd, op)(x, axis=0, keepdims=True) for op in OPS])
    )
    _check_all(got, [getattr(np, op)(A1, axis=0, keepdims=True) for op in OPS])


@pytest.mark.parametrize("chunks", CHUNKS_2D)
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_2d_against_numpy(threads_client: Any, axis: int | None, chunks: tuple[int, int]) -> None:
    x = da.from_array(A2, chunks=chunks)
    got = threads_client.gather(threads_client.compute([getattr(gd, op)(x, axis=axis) for op in OPS]))
    _check_all(got, [getattr(np, op)(A2, axis=axis) for op in OPS])


@pytest.mark.parametrize("op", ["sum", "mean", "var", "min", "max", "argmin", "argmax"])
def test_ints_ddof_keepdims_split_every(threads_client: Any, op: str) -> None:
    x = da.from_array(I1, chunks=9_000)
    got = threads_client.compute(getattr(gd, op)(x, keepdims=True, split_every=3)).result()
    want = getattr(np, op)(I1, keepdims=True)
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_var_ddof_tuple_axis_and_3d() -> None:
    a = RNG.normal(size=(20, 30, 40)).astype(np.float32)
    x = da.from_array(a, chunks=(7, 30, 11))
    np.testing.assert_allclose(
        gd.var(x, axis=(0, 2), ddof=1).compute(), a.var(axis=(0, 2), ddof=1), rtol=1e-5
    )
    assert gd.var(x, axis=(0, 2)).dtype == np.float32
    assert gd.argmax(x, axis=1).compute().tolist() == a.argmax(axis=1).tolist()
    np.testing.assert_array_equal(gd.sum(x, axis=2).compute().shape, (20, 30))


def test_nan_propagates_and_first_nan_index() -> None:
    a = A1.copy()
    a[[70_000, 150_000]] = np.nan
    x = da.from_array(a, chunks=33_333)
    assert np.isnan(gd.min(x).compute())
    assert np.isnan(gd.var(x).compute())
    assert int(gd.argmin(x).compute()) == 70_000 == int(gd.argmax(x).compute())


def test_ties_take_the_first_index() -> None:
    a = np.zeros((40, 30))
    a[5, 20] = a[30, 2] = a[5, 25] = 1.0
    x = da.from_array(a, chunks=(7, 9))
    assert int(gd.argmax(x).compute()) == int(a.argmax()) == 5 * 30 + 20
    assert gd.argmax(x, axis=0).compute().tolist() == a.argmax(axis=0).tolist()


@pytest.mark.parametrize("op", ["var", "sum"])
def test_same_chunking_same_bits(client: Any, op: str) -> None:
    x = da.from_array(A1, chunks=7_001)
    runs = [client.compute(getattr(gd, op)(x, split_every=4)).result() for _ in range(3)]
    runs.append(getattr(gd, op)(x, split_every=4).compute(scheduler="sync"))
    assert len({np.float64(r).tobytes() for r in runs}) == 1


@pytest.mark.parametrize("chunks", CHUNKS_1D)
def test_histogram(client: Any, chunks: int) -> None:
    x = da.from_array(A1, chunks=chunks)
    w = da.from_array(A1 * A1, chunks=chunks)
    hist, edges = gd.histogram(x, bins=37, range=(-4.0, 9.0))
    want, want_edges = np.histogram(A1, bins=37, range=(-4.0, 9.0))
    np.testing.assert_array_equal(client.compute(hist).result(), want)
    np.testing.assert_array_equal(edges, want_edges)
    whist, _ = gd.histogram(x, bins=want_edges, weights=w, density=True)
    np.testing.assert_allclose(
        client.compute(whist).result(),
        np.histogram(A1, bins=want_edges, weights=A1 * A1, density=True)[0],
        rtol=1e-12,
    )


def test_histogram_2d_input_and_errors() -> None:
    x = da.from_array(A2, chunks=(100, 64))
    hist, _ = gd.histogram(x, bins=10, range=(-3, 3))
    np.testing.assert_array_equal(hist.compute(), np.histogram(A2, bins=10, range=(-3, 3))[0])
    with pytest.raises(ValueError, match="range"):
        gd.histogram(x, bins=10)
    with pytest.raises(TypeError, match=r"dask\.array"):
        gd.histogram(A2, bins=10, range=(0, 1))  # type: ignore[arg-type]


@pytest.mark.parametrize("chunks", [100_001, 9_999])
def test_bincount(client: Any, chunks: int) -> None:
    v = np.abs(I1)
    x = da.from_array(v, chunks=chunks)
    w = da.from_array(A1[: v.size], chunks=chunks)
    np.testing.assert_array_equal(client.compute(gd.bincount(x)).result(), np.bincount(v))
    np.testing.assert_array_equal(
        client.compute(gd.bincount(x, minlength=1500)).result(), np.bincount(v, minlength=1500)
    )
    np.testing.assert_allclose(
        client.compute(gd.bincount(x, w)).result(), np.bincount(v, A1[: v.size]), rtol=1e-12
    )
    assert gd.bincount(x, minlength=1500).shape == (1500,)


def test_bincount_errors() -> None:
    with pytest.raises(ValueError, match="one-dimensional"):
        gd.bincount(da.zeros((3, 3), dtype=int, chunks=2))
    with pytest.raises(ValueError, match="must match"):
        gd.bincount(da.zeros(6, dtype=int, chunks=2), da.ones(6, chunks=3))
    with pytest.raises(ValueError):
        gd.bincount(da.from_array(np.array([1, -1]), chunks=1)).compute()


def test_import_without_dask_names_the_extra() -> None:
    code = "import sys; sys.modules['dask'] = None; import gilfree.dask"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 1
    assert "pip install 'gilfree[dask]'" in proc.stderr


def test_bad_arguments() -> None:
    x = da.from_array(A2, chunks=100)
    with pytest.raises(np.exceptions.AxisError):
        gd.sum(x, axis=2)
    with pytest.raises(TypeError):
        gd.var(x, ddof=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gd.argmin(x, axis=(0, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        gd.argmax(da.zeros(0, chunks=1))
    with pytest.raises(ValueError, match="zero-size"):
        gd.min(da.zeros(0, chunks=1))
    with pytest.raises(ValueError, match="threads"):
        gd.sum(x, threads=0)
    with pytest.raises(TypeError, match="threads"):
        gd.var(x, threads=True)
    with pytest.raises(TypeError, match="threads"):
        gd.map_blocks(gilfree.sort, x, threads=1.0)  # type: ignore[arg-type]


def test_map_blocks_passes_threads(client: Any) -> None:
    a = RNG.normal(size=4000)
    x = da.from_array(a, chunks=1000)
    got = client.compute(gd.map_blocks(gilfree.sort, x, threads=1)).result()
    np.testing.assert_array_equal(got, np.concatenate([np.sort(b) for b in np.split(a, 4)]))

    seen: list[int | None] = []

    def kernel(block: np.ndarray, *, scale: float, threads: int | None = None) -> np.ndarray:
        seen.append(threads)
        return block * scale

    y = gd.map_blocks(kernel, x, scale=2.0, threads=3)
    np.testing.assert_array_equal(y.compute(scheduler="sync"), a * 2)
    assert set(seen) == {3}


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _pairs(a: np.ndarray, b: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    import gilfree_rust_example

    return gilfree_rust_example.edit_distance_pairs(a.tolist(), b.tolist(), threads=threads)


def test_map_blocks_with_a_gilfree_pyo3_extension(client: Any) -> None:
    """A user's own kernel (examples/ext-rust, built on gilfree-pyo3) on the blocks."""
    pytest.importorskip("gilfree_rust_example", reason="make examples-rust")
    rng = np.random.default_rng(5)
    words = ["".join(rng.choice(list("abcde"), size=rng.integers(0, 12))) for _ in range(400)]
    a = np.array(words, dtype=object)
    b = a[::-1].copy()
    x, y = da.from_array(a, chunks=90), da.from_array(b, chunks=90)
    got = client.compute(gd.map_blocks(_pairs, x, y, threads=1, dtype=np.uint32)).result()
    assert got.tolist() == [_levenshtein(p, q) for p, q in zip(words, b.tolist(), strict=True)]


def _pool_sizes(client: Any) -> list[int]:
    return sorted(client.run(gilfree.get_num_threads).values())


def test_pool_plugin_sizes_each_worker_process(procs_client: Any) -> None:
    procs_client.register_plugin(gd.PoolPlugin())
    assert _pool_sizes(procs_client) == [1, 1]
    procs_client.register_plugin(gd.PoolPlugin(threads=2))
    assert _pool_sizes(procs_client) == [2, 2]
    procs_client.register_plugin(gd.PoolPlugin())
    assert _pool_sizes(procs_client) == [1, 1]


def test_pool_plugin_in_process(restore_num_threads: int) -> None:
    with (
        distributed.LocalCluster(
            processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=50
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        c.register_plugin(gd.PoolPlugin())
        assert gilfree.get_num_threads() == 2  # two workers of one thread share this process
        x = da.from_array(A1, chunks=50_000)
        np.testing.assert_allclose(c.compute(gd.var(x)).result(), A1.var(), rtol=1e-12)
    assert gilfree.get_num_threads() == restore_num_threads  # teardown gives the size back
    # ... and the setting: the environment decides again, nothing is pinned by set_num_threads.
    assert num_threads_setting() is None
    with pytest.raises(ValueError):
        gd.PoolPlugin(threads=0)


# --- stopping a running graph -------------------------------------------------------------------

_STARTED = gilfree.AtomicInt(0)
_BLOCKS = 300
_MS = 30


def _slow_block(block: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    _STARTED.add(1)
    gilfree._native._testing.spin(2, _MS // 2, threads=threads)  # GIL-free, ~_MS ms on 1 core
    return block[:1]


def _slow_graph() -> Any:
    x = da.zeros(_BLOCKS * 10, chunks=10)
    return gd.map_blocks(_slow_block, x, threads=1, chunks=((1,) * _BLOCKS,), meta=np.empty(0)).sum()


def _wait(pred: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out (deadlock detector)"
        time.sleep(0.01)


def _settled(client: Any) -> Callable[[], bool]:
    return lambda: not any(client.processing().values())


def _stable_count() -> int:
    """The number of blocks started, once it has not moved for 0.5 s (the tasks a worker had
    already taken may still start after the cancel reached the scheduler)."""
    last, since = _STARTED.load(), time.monotonic()
    deadline = since + 30
    while time.monotonic() - since < 0.5:
        assert time.monotonic() < deadline, "timed out (deadlock detector)"
        time.sleep(0.05)
        now = _STARTED.load()
        if now != last:
            last, since = now, time.monotonic()
    return last


def test_cancel_stops_a_running_graph(threads_client: Any) -> None:
    _STARTED.store(0)
    fut = threads_client.compute(_slow_graph())
    _wait(lambda: _STARTED.load() >= 2)
    threads_client.cancel(fut)
    _wait(lambda: fut.cancelled())
    _wait(_settled(threads_client))
    ran = _stable_count()
    assert ran < _BLOCKS // 4  # the rest of the graph never started
    assert fut.status == "cancelled"


def _worker_tasks(dask_worker: Any) -> int:
    return len(dask_worker.state.tasks)


def test_cancel_on_worker_processes(procs_client: Any) -> None:
    """Worker processes: the scheduler shows the graph running, cancel() drops it, and every
    worker ends with no task of it left (none still queued or running)."""
    fut = procs_client.compute(_slow_graph())
    _wait(lambda: any(procs_client.processing().values()))
    time.sleep(0.2)  # a few blocks run
    assert fut.status == "pending"  # running, not failed
    procs_client.cancel(fut)
    _wait(lambda: fut.cancelled())
    _wait(lambda: not any(procs_client.run(_worker_tasks).values()))
    assert fut.status == "cancelled"
    assert float(procs_client.compute(gd.sum(da.ones(10, chunks=3))).result()) == 10.0


# --- the docs and the benchmark run ------------------------------------------------------------

ROOT = pathlib.Path(__file__).resolve().parent.parent
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_docstring_examples() -> None:
    failed, attempted = doctest.testmod(gd, optionflags=FLAGS)
    assert attempted > 10
    assert failed == 0


def test_docs_dask_md_session() -> None:
    text = (ROOT / "docs/dask.md").read_text(encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(text, {}, "dask.md", str(ROOT / "docs/dask.md"), 0)
    assert test.examples
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_bench_dask_runs(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "dask.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks/bench_dask.py"),
            "--size",
            "2e5",
            "--chunks",
            "4",
            "--repeat",
            "1",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert set(report["compare"]) == {"var", "histogram"}
    assert report["compare"]["var"]["ratio"] > 0


_CTRL_C_CHILD = """
import builtins
import dask.array as da, distributed, gilfree.dask as gd

builtins._gilfree_started = gilfree.AtomicInt(0)  # a function pickled by value still finds it


def slow(block, *, threads=None):
    import builtins
    builtins._gilfree_started.add(1)
    gilfree._native._testing.spin(2, 15, threads=threads)
    return block[:1]


cluster = distributed.LocalCluster(
    processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None, silence_logs=50
)
client = distributed.Client(cluster)
graph = gd.map_blocks(slow, da.zeros(3000, chunks=10), threads=1, chunks=((1,) * 300,), meta=np.empty(0))
print("READY", flush=True)
try:
    graph.sum().compute()
except KeyboardInterrupt:
    caught = time.monotonic()
    sent = float(sys.stdin.readline())
    print(f"INTERRUPTED {caught - sent:.6f}", flush=True)
else:
    print("NOT INTERRUPTED", flush=True)
    sys.exit(1)
# The release of the graph's futures reaches the worker a message later: a block or two handed to
# its threads in between may still start. Wait until the count stops moving, then watch it for 1 s.
at_interrupt = builtins._gilfree_started.load()
settled, quiet_since, deadline = at_interrupt, time.monotonic(), time.monotonic() + 10.0
while time.monotonic() - quiet_since < 0.5 and time.monotonic() < deadline:
    time.sleep(0.02)
    now = builtins._gilfree_started.load()
    if now != settled:
        settled, quiet_since = now, time.monotonic()
time.sleep(1.0)
print(f"STARTED {at_interrupt} {settled} {builtins._gilfree_started.load()}", flush=True)
"""


@posix_only
def test_ctrl_c_stops_compute() -> None:
    """A real SIGINT to a child computing a 300-block graph on an in-process cluster: compute()
    raises KeyboardInterrupt, the graph stops (at most the few blocks already handed to the
    worker's threads start after it; then none, for good), the process goes idle."""
    child = interrupt_child(CHILD_PRELUDE + _CTRL_C_CHILD)
    latency = float(child.value("INTERRUPTED"))
    assert 0 <= latency < LATENCY_SANITY_S, child.describe()
    at_interrupt, settled, later = map(int, child.value("STARTED").split())
    # 300 blocks of 15 ms on 2 threads take ~2.3 s: a graph that kept running would reach 300
    # within the 10 s settling bound.
    assert settled == later < 300, child.describe()
    assert settled - at_interrupt <= 20, child.describe()
    assert float(child.value("IDLE_CPU")) < IDLE_CPU_MAX_S, child.describe()


@pytest.mark.parametrize("op", ["sum", "mean", "var", "min", "max"])
def test_a_zero_length_chunk_inside_a_non_empty_array(op: str) -> None:
    """Chunks (0, 5, 5) or a zero-height row of blocks: the empty block adds nothing, as in Dask's
    own reductions. (argmin/argmax of such chunks raise ValueError, as Dask's own do.)"""
    a = np.arange(10.0) - 3.0
    x = da.from_array(a, chunks=((0, 5, 5),))
    assert getattr(gd, op)(x).compute(scheduler="sync") == getattr(np, op)(a)
    b = RNG.normal(size=(6, 4))
    y = da.from_array(b, chunks=((3, 0, 3), (2, 2)))
    for axis in (None, 0, 1):
        np.testing.assert_allclose(
            getattr(gd, op)(y, axis=axis).compute(scheduler="sync"), getattr(np, op)(b, axis=axis), rtol=1e-12
        )
