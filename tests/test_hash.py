"""hash_many and hash_files: digests against hashlib (always) and the `blake3` and `xxhash` PyPI
packages (when installed), thread-count invariance, every bad input's exact exception, held
buffers, file errors as Python's own OSError, Ctrl-C, and the gilfree.Executor task form."""

from __future__ import annotations

import errno
import hashlib
import os
import pathlib
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from _sigint import check_after, interrupt_call, posix_only
from hypothesis import given, settings
from hypothesis import strategies as st

import gilfree
from gilfree import _native

try:
    import blake3 as blake3_py
except ImportError:  # pragma: no cover - the test extra installs it
    blake3_py = None
try:
    import xxhash
except ImportError:  # pragma: no cover - the test extra installs it
    xxhash = None

ALGORITHMS = ["blake3", "sha256", "xxh3_64", "xxh3_128"]
THREADS = [1, 2, None]


def reference(algorithm: str) -> Callable[[bytes], bytes]:
    """The independent reference digest of one algorithm (skips when its package is missing)."""
    if algorithm == "sha256":
        return lambda b: hashlib.sha256(b).digest()
    if algorithm == "blake3":
        if blake3_py is None:
            pytest.skip("the blake3 package is not installed (pip install 'gilfree[test]')")
        return lambda b: blake3_py.blake3(b).digest()
    if xxhash is None:
        pytest.skip("the xxhash package is not installed (pip install 'gilfree[test]')")
    fn = xxhash.xxh3_64 if algorithm == "xxh3_64" else xxhash.xxh3_128
    return lambda b: fn(b).digest()


# ---------------------------------------------------------------------------------------------
# Values


def test_published_vectors() -> None:
    got = gilfree.hash_many([b"", b"abc"], algorithm="sha256")
    assert [d.hex() for d in got] == [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    ]
    got = gilfree.hash_many([b"", b"abc"])  # blake3 by default
    assert [d.hex() for d in got] == [
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
    ]
    assert gilfree.hash_many([b""], algorithm="xxh3_64")[0].hex() == "2d06800538d394c2"
    assert gilfree.hash_many([b""], algorithm="xxh3_128")[0].hex() == "99aa06d3014798d86001c324468d497f"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_against_reference(algorithm: str) -> None:
    ref = reference(algorithm)
    rng = np.random.default_rng(7)
    sizes = [0, 1, 63, 64, 65, 1023, 1024, 1025, 4096, 100_000, (1 << 20) + 3, 3 << 20]
    blobs = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    want = [ref(b) for b in blobs]
    for threads in THREADS:
        assert gilfree.hash_many(blobs, algorithm=algorithm, threads=threads) == want


@settings(max_examples=40, deadline=None)
@given(
    blobs=st.lists(st.binary(max_size=3000), max_size=60),
    algorithm=st.sampled_from(ALGORITHMS),
    threads=st.sampled_from(THREADS),
)
def test_hypothesis_random_lists(blobs: list[bytes], algorithm: str, threads: int | None) -> None:
    ref = reference(algorithm)
    assert gilfree.hash_many(blobs, algorithm=algorithm, threads=threads) == [ref(b) for b in blobs]


def test_many_blobs_thread_invariance() -> None:
    rng = np.random.default_rng(1)
    blobs = [rng.integers(0, 256, int(n), dtype=np.uint8).tobytes() for n in rng.integers(0, 20_000, 3000)]
    want = [hashlib.sha256(b).digest() for b in blobs]
    for threads in [1, 2, 3, None]:
        assert gilfree.hash_many(blobs, algorithm="sha256", threads=threads) == want
        assert gilfree.hash_many(tuple(blobs), threads=threads) == gilfree.hash_many(blobs, threads=1)


def test_bytes_like_kinds() -> None:
    data = bytes(range(256)) * 40
    arr = np.frombuffer(data, dtype=np.float64).reshape(64, 20)  # any dtype: its raw bytes
    blobs = [
        data,
        bytearray(data),
        memoryview(data),
        arr,
        np.frombuffer(data, dtype=np.uint8),
        memoryview(data)[10:20],
    ]
    got = gilfree.hash_many(blobs, algorithm="sha256")
    want = [hashlib.sha256(x).digest() for x in blobs]
    assert got == want
    assert got[3] == hashlib.sha256(data).digest()
    assert gilfree.hash_many([]) == []
    assert gilfree.hash_many([np.zeros(0)], algorithm="sha256") == [hashlib.sha256(b"").digest()]
    assert [len(d) for d in gilfree.hash_many([b"x"] * 4)] == [32] * 4
    assert [len(gilfree.hash_many([b"x"], algorithm=a)[0]) for a in ALGORITHMS] == [32, 32, 8, 16]


# ---------------------------------------------------------------------------------------------
# BLAKE3 split into subtrees: one big blob or file uses every worker, same digest as serial

SUBTREE = 1 << 20  # gilfree_kernels::kernels::hash::SUBTREE: BLAKE3 blobs longer than this split


def boundary_sizes() -> list[int]:
    """Sizes around every BLAKE3 tree boundary up to a few subtrees: one 1 KiB chunk, 2^k
    chunks, the split threshold (SUBTREE) and its multiples, each -1/0/+1 byte."""
    sizes = {0, 1, 1023, 1024, 1025}
    k = 2048
    while k <= 4 * SUBTREE:
        sizes |= {k - 1, k, k + 1}
        k *= 2
    sizes |= {3 * SUBTREE - 1, 3 * SUBTREE, 3 * SUBTREE + 1, 5 * SUBTREE + 1024, 6 * SUBTREE + 7}
    return sorted(sizes)


@pytest.fixture(scope="module")
def boundary_blobs() -> list[bytes]:
    rng = np.random.default_rng(11)
    big = rng.integers(0, 256, max(boundary_sizes()), dtype=np.uint8).tobytes()
    # Each blob a different slice (offset by its index), so no two share a prefix by accident.
    return [big[i : i + n] if i + n <= len(big) else big[:n] for i, n in enumerate(boundary_sizes())]


def test_blake3_subtree_boundaries_hash_many(boundary_blobs: list[bytes]) -> None:
    ref = reference("blake3")
    want = [ref(b) for b in boundary_blobs]
    for threads in THREADS:
        assert gilfree.hash_many(boundary_blobs, threads=threads) == want, threads
    # Each big one alone (nothing to group with), and big ones among many small blobs, shuffled.
    for b, w in zip(boundary_blobs[-6:], want[-6:], strict=True):
        assert gilfree.hash_many([b]) == [w]
    rng = np.random.default_rng(5)
    small = [rng.integers(0, 256, int(n), dtype=np.uint8).tobytes() for n in rng.integers(0, 9000, 1500)]
    mixed = small + boundary_blobs[-8:]
    order = rng.permutation(len(mixed))
    mixed = [mixed[i] for i in order]
    want_mixed = [ref(b) for b in mixed]
    for threads in THREADS:
        assert gilfree.hash_many(mixed, threads=threads) == want_mixed, threads


@settings(max_examples=25, deadline=None)
@given(
    parts=st.lists(
        st.tuples(st.sampled_from(boundary_sizes()), st.integers(-2, 2), st.integers(0, 2**32 - 1)),
        min_size=1,
        max_size=3,
    ),
    threads=st.sampled_from(THREADS),
)
def test_hypothesis_blake3_near_boundaries(parts: list[tuple[int, int, int]], threads: int | None) -> None:
    ref = reference("blake3")
    blobs = [
        np.random.default_rng(seed).integers(0, 256, max(0, n + d), dtype=np.uint8).tobytes()
        for n, d, seed in parts
    ]
    assert gilfree.hash_many(blobs, threads=threads) == [ref(b) for b in blobs]


def test_blake3_subtree_boundaries_hash_files(boundary_blobs: list[bytes], tmp_path: pathlib.Path) -> None:
    ref = reference("blake3")
    paths = []
    for i, b in enumerate(boundary_blobs):
        p = tmp_path / f"b{i}.bin"
        p.write_bytes(b)
        paths.append(p)
    want = [ref(b) for b in boundary_blobs]
    for threads in THREADS:
        assert gilfree.hash_files(paths, threads=threads) == want, threads
    for p, w in zip(paths[-4:], want[-4:], strict=True):
        assert gilfree.hash_files([p], threads=None) == [w]
    # A split file among missing ones: the first failing path still raises, whatever the threads.
    missing = tmp_path / "missing.bin"
    for threads in THREADS:
        with pytest.raises(FileNotFoundError) as e:
            gilfree.hash_files([paths[-1], missing, paths[-2]], threads=threads)
        assert e.value.filename == str(missing)


def test_blake3_big_blob_of_a_numpy_array() -> None:
    # A 2-D array's raw bytes, split at subtree boundaries that fall mid-row.
    a = np.random.default_rng(2).standard_normal((700, 1000))  # 5.6 MB
    assert gilfree.hash_many([a]) == [reference("blake3")(a.tobytes())]


# ---------------------------------------------------------------------------------------------
# Bad input: exact exceptions


@pytest.mark.parametrize(
    ("blobs", "match"),
    [
        (b"abc", "not a single bytes"),
        (bytearray(b"abc"), "not a single bytearray"),
        (memoryview(b"abc"), "not a single memoryview"),
        ("abc", "not a single str"),
        (np.zeros(4, np.uint8), "not a single ndarray"),
        (42, "must be a sequence"),
        (None, "must be a sequence"),
        ((b for b in [b"a"]), "must be a sequence"),
        ({b"a"}, "must be a sequence"),
        ([b"a", "text"], r"blobs\[1\] is a str; hash bytes: encode it first"),
        ([b"a", b"b", 3], r"blobs\[2\] must be a bytes-like object"),
        ([None], r"blobs\[0\] must be a bytes-like object"),
        ([np.arange(10)[::2]], r"blobs\[0\] is not C-contiguous"),
        ([b"a", np.zeros((4, 4), order="F")], r"blobs\[1\] is not C-contiguous"),
    ],
)
def test_bad_blobs(blobs: object, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        gilfree.hash_many(blobs)  # type: ignore[arg-type]


def test_bad_algorithm_and_threads() -> None:
    with pytest.raises(
        ValueError,
        match="unknown algorithm 'md5'; valid algorithms: 'blake3', 'sha256', 'xxh3_64', 'xxh3_128'",
    ):
        gilfree.hash_many([b"a"], algorithm="md5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="valid algorithms"):
        gilfree.hash_files([], algorithm="SHA256")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="algorithm must be a str"):
        gilfree.hash_many([b"a"], algorithm=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        gilfree.hash_many([b"a"], threads=0)
    with pytest.raises(TypeError):
        gilfree.hash_many([b"a"], threads=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gilfree.hash_many([b"a"], "sha256")  # type: ignore[misc]  # keyword-only


def test_exports_released_after_calls_and_errors() -> None:
    ba = bytearray(b"abc")
    gilfree.hash_many([ba] * 3000)  # > 2 KiB in all: released the GIL
    ba.extend(b"d")  # no export left
    with pytest.raises(TypeError):
        gilfree.hash_many([ba, ba, "x"])
    ba.extend(b"e")
    assert gilfree.hash_many([ba], algorithm="sha256") == [hashlib.sha256(b"abcde").digest()]


def test_resize_during_hash_is_buffer_error_not_a_crash() -> None:
    ba = bytearray(os.urandom(1 << 20)) * 8  # 8 MiB
    want = hashlib.sha256(ba).digest()
    out: list[list[bytes]] = []
    t = threading.Thread(
        target=lambda: out.append(gilfree.hash_many([ba] * 64, algorithm="sha256", threads=1))
    )
    t.start()

    def in_flight() -> bool:
        return any(name == "hash_many" for name, *_ in _native._calls())

    # The call holds its buffers from before the runtime lists it until after it is unlisted (the
    # views are released in its finish step). A resize attempted while it is listed both before
    # and after the attempt must be refused; outside that (before the call took its exports, or
    # after it released them, while its thread is still alive) a resize may rightly succeed,
    # which a free-threaded build (nothing serialises the two threads) does show.
    refused = 0
    try:
        # Not before the call is in flight: a resize that won the race would change what it hashes.
        while t.is_alive() and not in_flight():
            time.sleep(0.0005)
        while t.is_alive():
            before = in_flight()
            try:
                ba.extend(b"x")
            except BufferError:
                refused += 1
            else:
                assert not (before and in_flight()), "a resize succeeded while the call held the buffer"
            time.sleep(0.001)
    finally:
        t.join()
    assert refused > 0, "hash_many finished before any resize was attempted"
    assert out[0] == [want] * 64
    ba.extend(b"x")  # released afterwards


# ---------------------------------------------------------------------------------------------
# hash_files


@pytest.fixture
def tree(tmp_path: pathlib.Path) -> list[pathlib.Path]:
    rng = np.random.default_rng(3)
    paths = []
    for i, size in enumerate([0, 1, 4095, 4096, 100_000, (1 << 20) - 1, 1 << 20, (2 << 20) + 17]):
        sub = tmp_path / f"d{i % 3}"
        sub.mkdir(exist_ok=True)
        p = sub / f"f{i}.bin"
        p.write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        paths.append(p)
    return paths


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_hash_files_against_reference(tree: list[pathlib.Path], algorithm: str) -> None:
    ref = reference(algorithm)
    want = [ref(p.read_bytes()) for p in tree]
    for threads in THREADS:
        assert gilfree.hash_files(tree, algorithm=algorithm, threads=threads) == want
    # str, bytes and PathLike paths alike; equal to hash_many of the contents
    mixed = [str(tree[0]), os.fsencode(tree[1]), *tree[2:]]
    assert gilfree.hash_files(mixed, algorithm=algorithm) == want
    assert gilfree.hash_many([p.read_bytes() for p in tree], algorithm=algorithm) == want


def test_hash_files_errors_name_the_file(tree: list[pathlib.Path], tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "missing.bin"
    with pytest.raises(FileNotFoundError) as e:
        gilfree.hash_files([tree[0], missing, tree[1]])
    assert e.value.errno == errno.ENOENT
    assert e.value.filename == str(missing)
    assert e.value.strerror == os.strerror(errno.ENOENT)
    assert str(missing) in str(e.value)

    with pytest.raises(IsADirectoryError) as d:
        gilfree.hash_files([tree[0], tmp_path])
    assert d.value.errno == errno.EISDIR
    assert d.value.filename == str(tmp_path)

    # bytes paths give a bytes filename, as open() does
    with pytest.raises(FileNotFoundError) as b:
        gilfree.hash_files([os.fsencode(missing)])
    assert b.value.filename == os.fsencode(missing)

    # the first failing path in input order raises, whatever the thread count
    for threads in THREADS:
        with pytest.raises(OSError) as first:
            gilfree.hash_files([tree[2], tmp_path, missing], threads=threads)
        assert type(first.value) is IsADirectoryError


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_hash_files_permission_error(tmp_path: pathlib.Path) -> None:
    p = tmp_path / "secret"
    p.write_bytes(b"x")
    p.chmod(0)
    try:
        with pytest.raises(PermissionError) as e:
            gilfree.hash_files([p])
        assert e.value.errno == errno.EACCES
        assert e.value.filename == str(p)
    finally:
        p.chmod(0o600)


@pytest.mark.parametrize(
    ("paths", "exc", "match"),
    [
        ("a.txt", TypeError, "not a single str"),
        (b"a.txt", TypeError, "not a single bytes"),
        (pathlib.Path("a.txt"), TypeError, "not a single PosixPath|not a single WindowsPath"),
        (3, TypeError, "must be a sequence"),
        (["a", 3], TypeError, r"paths\[1\] must be a str, bytes or os.PathLike, got int"),
        ([None], TypeError, r"paths\[0\] must be a str, bytes or os.PathLike"),
        (["a\0b"], ValueError, r"paths\[0\] contains a NUL byte"),
    ],
)
def test_hash_files_bad_paths(paths: object, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        gilfree.hash_files(paths)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Ctrl-C


@posix_only
@pytest.mark.parametrize("threads", [None, 1])
def test_ctrl_c_stops_a_long_hash_many(threads: int | None) -> None:
    child = interrupt_call(
        f"gilfree.hash_many(blobs, algorithm='sha256', threads={threads!r})  # ~1 TB of hashing",
        setup="blob = b'x' * (64 << 20)\nblobs = [blob] * 16384",
        after=f'print("NEXT_HASH", gilfree.hash_many([b"abc"], threads={threads!r})[0].hex()[:8])',
    )
    latency = check_after(child, f"hash_many(16384 x 64 MiB, threads={threads})")
    assert latency < 0.5, child.describe()
    assert child.value("NEXT_HASH") == "6437b3ac", child.describe()


@posix_only
@pytest.mark.parametrize("threads", [None, 1])
def test_ctrl_c_stops_one_huge_blake3_blob(threads: int | None) -> None:
    # 2 GiB of untouched zeros (calloc: every page reads as the shared zero page, no memory used),
    # listed 64 times: 128 GiB of hashing, each blob split into 1 MiB subtree tasks.
    child = interrupt_call(
        f"gilfree.hash_many(blobs, threads={threads!r})",
        setup="blob = np.zeros(2 << 30, dtype=np.uint8)\nblobs = [blob] * 64",
        after=f'print("NEXT_HASH", gilfree.hash_many([b"abc"], threads={threads!r})[0].hex()[:8])',
    )
    latency = check_after(child, f"hash_many(64 x 2 GiB, blake3, threads={threads})")
    assert latency < 0.5, child.describe()
    assert child.value("NEXT_HASH") == "6437b3ac", child.describe()


@posix_only
@pytest.mark.parametrize("threads", [None, 1])
def test_ctrl_c_stops_hash_files_of_huge_files(threads: int | None, tmp_path: pathlib.Path) -> None:
    # A sparse 4 GiB file (no disk used: its holes read as zeros), listed 32 times.
    sparse = tmp_path / "sparse.bin"
    with sparse.open("wb") as f:
        f.truncate(4 << 30)
    child = interrupt_call(
        f"gilfree.hash_files([{str(sparse)!r}] * 32, threads={threads!r})",
        after=f'print("NEXT_HASH", gilfree.hash_files([{str(sparse)!r}] * 0, threads={threads!r}))',
    )
    latency = check_after(child, f"hash_files(32 x 4 GiB sparse, blake3, threads={threads})")
    assert latency < 0.5, child.describe()
    assert child.value("NEXT_HASH") == "[]", child.describe()


# ---------------------------------------------------------------------------------------------
# gilfree.Executor


def test_executor_task_form(tree: list[pathlib.Path]) -> None:
    assert gilfree.Executor.is_native(gilfree.hash_many)
    assert gilfree.Executor.is_native(gilfree.hash_files)
    blobs = [os.urandom(n) for n in (0, 10, 5000, 300_000)]
    ba = bytearray(b"held by the task")
    with gilfree.Executor() as ex:
        f1 = ex.submit(gilfree.hash_many, [*blobs, ba], algorithm="sha256")
        f2 = ex.submit(gilfree.hash_files, tree, algorithm="xxh3_128", threads=1)
        f3 = ex.submit(gilfree.hash_files, [tree[0], tree[0].parent / "missing"])
        big = os.urandom(3 * SUBTREE + 5)  # split into subtrees, all on the task's one worker
        f4 = ex.submit(gilfree.hash_many, [b"a", big])
        f5 = ex.submit(gilfree.hash_files, [tree[-1]])  # (2 MiB + 17): split in round two
        assert f1.result() == gilfree.hash_many([*blobs, ba], algorithm="sha256")
        assert f2.result() == gilfree.hash_files(tree, algorithm="xxh3_128")
        with pytest.raises(FileNotFoundError):
            f3.result()
        assert f4.result() == gilfree.hash_many([b"a", big], threads=1)
        if blake3_py is not None:
            assert f4.result()[1] == blake3_py.blake3(big).digest()
            assert f5.result() == [blake3_py.blake3(tree[-1].read_bytes()).digest()]
        with pytest.raises(TypeError, match="encode it first"):
            ex.submit(gilfree.hash_many, ["text"])
        with pytest.raises(ValueError, match="threads=2"):
            ex.submit(gilfree.hash_many, blobs, threads=2)
    ba.extend(b"!")  # the task released its export
