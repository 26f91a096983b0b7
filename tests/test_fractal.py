"""gilfree.mandelbrot: values against a pure-Python reference that runs the documented formula
operation for operation (so the results must match exactly, not approximately), known points of
the set, shapes and dtype, bit-identical results for every thread count, every bad input's
exception type, and Ctrl-C on a long call.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import numpy as np
import pytest
from _sigint import check_after, interrupt_call, posix_only

import gilfree

THREADS = [1, 2, 3, 8, None]
DEFAULT = {"xmin": -2.0, "xmax": 1.0, "ymin": -1.5, "ymax": 1.5}
HANG_BOUND_S = 20.0  # a child that has not exited by then is hung
LATENCY_SANITY_S = 5.0  # hang detector for "signal -> exception"; not a performance target


# ---------------------------------------------------------------------------------------------
# References: the documented loop, in Python floats (IEEE doubles, each operation rounded once).


def reference(
    width: int,
    height: int,
    max_iter: int = 256,
    xmin: float = -2.0,
    xmax: float = 1.0,
    ymin: float = -1.5,
    ymax: float = 1.5,
) -> np.ndarray:
    xmin, xmax, ymin, ymax = float(xmin), float(xmax), float(ymin), float(ymax)
    dx = (xmax - xmin) / width
    dy = (ymax - ymin) / height
    out = np.empty((height, width), dtype=np.uint16)
    for i in range(height):
        ci = ymin + i * dy
        for j in range(width):
            cr = xmin + j * dx
            zr = zi = 0.0
            n = 0
            while n < max_iter:
                zr2 = zr * zr
                zi2 = zi * zi
                if zr2 + zi2 > 4.0:
                    break
                zi = 2.0 * zr * zi + ci
                zr = zr2 - zi2 + cr
                n += 1
            out[i, j] = n
    return out


def reference_numpy(
    width: int, height: int, max_iter: int, xmin: float, xmax: float, ymin: float, ymax: float
) -> np.ndarray:
    """The same loop over whole arrays (NumPy's ufuncs round each operation; nothing is fused)."""
    dx = (xmax - xmin) / width
    dy = (ymax - ymin) / height
    cr = np.broadcast_to(xmin + np.arange(width, dtype=np.float64) * dx, (height, width))
    ci = np.broadcast_to((ymin + np.arange(height, dtype=np.float64) * dy)[:, None], (height, width))
    zr = np.zeros((height, width))
    zi = np.zeros((height, width))
    count = np.zeros((height, width), dtype=np.int64)
    active = np.ones((height, width), dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):  # escaped lanes may overflow: not counted
        for _ in range(max_iter):
            zr2 = zr * zr
            zi2 = zi * zi
            active &= ~(zr2 + zi2 > 4.0)
            if not active.any():
                break
            count += active
            zi = 2.0 * zr * zi + ci
            zr = zr2 - zi2 + cr
    return count.astype(np.uint16)


def random_cases(n: int, seed: int) -> list[tuple[int, int, int, dict[str, float]]]:
    """Random windows near the set's boundary (and some far away), random small sizes."""
    rng = random.Random(seed)
    cases = []
    while len(cases) < n:
        width, height = rng.choice([1, 2, 3, rng.randint(1, 40)]), rng.choice([1, 2, rng.randint(1, 30)])
        max_iter = rng.choice([1, 2, 17, 100, 300, 1000])
        if width * height * max_iter > 150_000:  # keep the pure-Python reference fast
            continue
        cx, cy = rng.uniform(-2.2, 0.8), rng.uniform(-1.4, 1.4)
        if rng.random() < 0.1:
            cx, cy = rng.uniform(-1e6, 1e6), rng.uniform(-1e6, 1e6)
        sx = 10 ** rng.uniform(-7, 0.6)
        sy = sx * rng.uniform(0.3, 3.0)
        cases.append(
            (width, height, max_iter, {"xmin": cx - sx, "xmax": cx + sx, "ymin": cy - sy, "ymax": cy + sy})
        )
    return cases


# ---------------------------------------------------------------------------------------------
# Values


@pytest.mark.parametrize(("width", "height", "max_iter", "window"), random_cases(40, seed=2024))
def test_matches_the_python_reference_on_random_windows(
    width: int, height: int, max_iter: int, window: dict[str, float]
) -> None:
    expected = reference(width, height, max_iter, **window)
    got = gilfree.mandelbrot(width, height, max_iter=max_iter, **window)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("width", "height"), [(1, 1), (1, 50), (50, 1), (7, 3), (3, 7), (17, 25), (48, 2), (49, 1), (25, 17)]
)
def test_matches_the_python_reference_on_the_default_window(width: int, height: int) -> None:
    np.testing.assert_array_equal(gilfree.mandelbrot(width, height), reference(width, height))


@pytest.mark.parametrize(
    ("width", "height", "max_iter", "window"),
    [
        (320, 240, 256, DEFAULT),  # several tasks, the whole set
        (
            200,
            150,
            600,
            {"xmin": -0.7436, "xmax": -0.7426, "ymin": 0.1313, "ymax": 0.1323},
        ),  # seahorse valley
        (
            97,
            61,
            200,
            {"xmin": -1e300, "xmax": 1e300, "ymin": -1e300, "ymax": 1e300},
        ),  # inf and NaN after escape
        (9, 7, 64, {"xmin": -1e-310, "xmax": 1e-310, "ymin": -1e-310, "ymax": 1e-310}),  # subnormal points
    ],
)
def test_matches_the_numpy_reference_on_larger_images(
    width: int, height: int, max_iter: int, window: dict[str, float]
) -> None:
    expected = reference_numpy(width, height, max_iter, **window)
    np.testing.assert_array_equal(gilfree.mandelbrot(width, height, max_iter=max_iter, **window), expected)


def test_python_and_numpy_references_agree() -> None:
    window = {"xmin": -1.0, "xmax": 0.5, "ymin": -0.2, "ymax": 1.0}
    np.testing.assert_array_equal(reference(31, 19, 150, **window), reference_numpy(31, 19, 150, **window))


def test_max_iter_bounds() -> None:
    window = {"xmin": -2.0, "xmax": 2.0, "ymin": -2.0, "ymax": 2.0}
    img = gilfree.mandelbrot(4, 4, max_iter=65535, **window)
    np.testing.assert_array_equal(img, reference(4, 4, 65535, **window))
    assert img[2].tolist() == [65535, 65535, 65535, 3]
    # max_iter=1: the only iteration tests z_0 = 0, which never escapes.
    assert (gilfree.mandelbrot(30, 20, max_iter=1) == 1).all()


def test_known_points() -> None:
    # dx = dy = 1 on [-2, 2]²: pixel [i, j] is c = (j - 2) + (i - 2)i.
    img = gilfree.mandelbrot(4, 4, max_iter=500, xmin=-2.0, xmax=2.0, ymin=-2.0, ymax=2.0)
    assert img[2, 2] == 500  # c = 0, the centre: in the set
    assert img[2, 0] == 500  # c = -2: z = 0, -2, 2, 2, ...; |z|² = 4 is not > 4
    assert img[2, 1] == 500  # c = -1: z = 0, -1, 0, -1, ...
    assert img[3, 2] == 500  # c = i: z = 0, i, -1 + i, -i, -1 + i, ...
    assert img[1, 2] == 500  # c = -i, by symmetry
    assert img[2, 3] == 3  # c = 1: z = 0, 1, 2, 5
    assert img[0, 0] == 1  # c = -2 - 2i: |z_1|² = 8
    # c = 2: |z_1|² = 4 is not an escape, z_2 = 6 is; c = 4 escapes at z_1.
    assert gilfree.mandelbrot(4, 1, max_iter=50, xmin=-2.0, xmax=6.0, ymin=0.0, ymax=1.0).tolist() == [
        [50, 50, 2, 1]
    ]
    # Far outside the set every point escapes at the first step.
    assert (
        gilfree.mandelbrot(64, 48, max_iter=65535, xmin=10.0, xmax=20.0, ymin=-20.0, ymax=-10.0) == 1
    ).all()
    # Inside the main cardioid every point reaches max_iter.
    assert (gilfree.mandelbrot(40, 30, max_iter=2000, xmin=-0.3, xmax=0.1, ymin=-0.2, ymax=0.2) == 2000).all()


def test_the_image_is_symmetric_about_the_real_axis() -> None:
    # dy = 4/64 is a power of two, so row i is ci = -2 + i/16 exactly and row 64 - i is exactly
    # -ci; conjugating c conjugates every z_n exactly (negation commutes with rounding).
    img = gilfree.mandelbrot(64, 64, max_iter=300, xmin=-2.0, xmax=2.0, ymin=-2.0, ymax=2.0)
    np.testing.assert_array_equal(img[1:], img[1:][::-1])


def test_dtype_shape_and_layout() -> None:
    img = gilfree.mandelbrot(7, 3)
    assert isinstance(img, np.ndarray)
    assert img.dtype == np.uint16
    assert img.shape == (3, 7)
    assert img.flags["C_CONTIGUOUS"]
    assert img.flags["WRITEABLE"]
    img[0, 0] = 7  # the caller owns it
    assert gilfree.mandelbrot(1, 1).shape == (1, 1)
    assert gilfree.mandelbrot(1, 9).shape == (9, 1)
    assert gilfree.mandelbrot(9, 1).shape == (1, 9)


def test_arguments_accept_numpy_scalars_and_ints() -> None:
    expected = reference(6, 5, 40, xmin=-2, xmax=1, ymin=-1, ymax=1)
    got = gilfree.mandelbrot(
        np.int64(6),
        np.int32(5),
        max_iter=np.uint16(40),
        xmin=np.float32(-2),
        xmax=1,
        ymin=np.int64(-1),
        ymax=1.0,
    )
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        gilfree.mandelbrot(6, 5, max_iter=40, xmin=-2.0, ymin=-1.0, ymax=1.0), expected
    )


# ---------------------------------------------------------------------------------------------
# Determinism


@pytest.mark.parametrize(
    ("width", "height", "max_iter", "window"),
    [
        (640, 480, 1000, DEFAULT),
        (333, 777, 300, {"xmin": -0.8, "xmax": -0.7, "ymin": 0.05, "ymax": 0.15}),
        (5000, 3, 65535, {"xmin": -2.0, "xmax": 0.5, "ymin": -0.001, "ymax": 0.001}),
    ],
)
def test_identical_for_every_thread_count(
    width: int, height: int, max_iter: int, window: dict[str, float]
) -> None:
    first = gilfree.mandelbrot(width, height, max_iter=max_iter, threads=1, **window)
    for threads in THREADS:
        got = gilfree.mandelbrot(width, height, max_iter=max_iter, threads=threads, **window)
        assert got.tobytes() == first.tobytes(), threads


def test_identical_for_every_pool_size(restore_num_threads: int) -> None:
    first = gilfree.mandelbrot(500, 400, max_iter=400)
    for n in (1, 3, 5):
        gilfree.set_num_threads(n)
        assert gilfree.mandelbrot(500, 400, max_iter=400).tobytes() == first.tobytes(), n


def test_calls_from_many_python_threads_agree() -> None:
    expected = gilfree.mandelbrot(300, 200, max_iter=500, threads=1)
    results: list[np.ndarray] = []
    lock = threading.Lock()

    def work(threads: int | None) -> None:
        img = gilfree.mandelbrot(300, 200, max_iter=500, threads=threads)
        with lock:
            results.append(img)

    workers = [threading.Thread(target=work, args=(t,)) for t in (None, 1, 2, None, 1, 3)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert len(results) == len(workers)
    for img in results:
        np.testing.assert_array_equal(img, expected)


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"width": 0}, ValueError, "width"),
        ({"width": -3}, ValueError, "width"),
        ({"height": 0}, ValueError, "height"),
        ({"height": -1}, ValueError, "height"),
        ({"width": True}, TypeError, "width"),
        ({"height": False}, TypeError, "height"),
        ({"width": 4.0}, TypeError, "width"),
        ({"height": 4.5}, TypeError, "height"),
        ({"width": "4"}, TypeError, "width"),
        ({"width": None}, TypeError, "width"),
        ({"height": np.float64(4)}, TypeError, "height"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"max_iter": -1}, ValueError, "max_iter"),
        ({"max_iter": 65536}, ValueError, "max_iter"),
        ({"max_iter": 10**30}, ValueError, "max_iter"),
        ({"max_iter": True}, TypeError, "max_iter"),
        ({"max_iter": 100.0}, TypeError, "max_iter"),
        ({"max_iter": None}, TypeError, "max_iter"),
        ({"xmin": float("nan")}, ValueError, "xmin"),
        ({"xmax": float("inf")}, ValueError, "xmax"),
        ({"ymin": -float("inf")}, ValueError, "ymin"),
        ({"ymax": np.float64("nan")}, ValueError, "ymax"),
        ({"xmin": 1.0}, ValueError, "xmax must be greater than xmin"),
        ({"xmin": 2.0}, ValueError, "xmax must be greater than xmin"),
        ({"ymin": 1.5}, ValueError, "ymax must be greater than ymin"),
        ({"ymin": 0.0, "ymax": -0.0}, ValueError, "ymax must be greater than ymin"),
        ({"xmin": -1e308, "xmax": 1e308}, ValueError, "xmax - xmin overflows"),
        ({"ymin": -1.7e308, "ymax": 1.7e308}, ValueError, "ymax - ymin overflows"),
        ({"xmin": True}, TypeError, "xmin"),
        ({"xmax": "1"}, TypeError, "xmax"),
        ({"ymin": None}, TypeError, "ymin"),
        ({"ymax": 1j}, TypeError, "ymax"),
        ({"xmin": -(10**400)}, OverflowError, "xmin"),
        ({"width": 10**6, "height": 10**6}, OverflowError, "1000000 x 1000000"),
        ({"width": 2**32, "height": 2}, OverflowError, "4294967296"),
        ({"width": 65536, "height": 65537}, OverflowError, "pixels"),
        ({"width": 10**30}, OverflowError, "2\\*\\*64 or more"),
        ({"width": 2**63, "height": 2**63}, OverflowError, "pixels"),
        ({"threads": 0}, ValueError, "threads"),
        ({"threads": True}, TypeError, "threads"),
        ({"threads": 2.0}, TypeError, "threads"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], exc: type[Exception], match: str) -> None:
    args: dict[str, Any] = {"width": 8, "height": 6, **kwargs}
    started = time.monotonic()
    with pytest.raises(exc, match=match):
        gilfree.mandelbrot(**args)
    assert time.monotonic() - started < LATENCY_SANITY_S  # hang detector: nothing is computed


def test_arguments_are_keyword_only_after_the_size() -> None:
    with pytest.raises(TypeError):
        gilfree.mandelbrot(8, 6, 100)  # type: ignore[misc]
    with pytest.raises(TypeError):
        gilfree.mandelbrot(8)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        gilfree.mandelbrot(8, 6, zoom=2)  # type: ignore[call-arg]


def test_the_largest_max_iter_and_a_tall_thin_image_work() -> None:
    window = {"xmin": -0.2, "xmax": 0.2, "ymin": -1.0, "ymax": 1.0}
    img = gilfree.mandelbrot(1, 200, max_iter=65535, **window)
    np.testing.assert_array_equal(img, reference_numpy(1, 200, 65535, **window))


# ---------------------------------------------------------------------------------------------
# Ctrl-C and gilfree.interrupt()


@posix_only
@pytest.mark.parametrize("threads", [None, 1, 2])
def test_ctrl_c_interrupts_a_long_render(threads: int | None) -> None:
    child = interrupt_call(
        f"gilfree.mandelbrot(4000, 4000, max_iter=65535, threads={threads!r})  # minutes of work",
        setup="gilfree.mandelbrot(64, 64)  # the pool is up before READY",
        after="""
        img = gilfree.mandelbrot(4, 4, max_iter=100, xmin=-2.0, xmax=2.0, ymin=-2.0, ymax=2.0)
        print("NEXT_IMAGE", img[2].tolist(), flush=True)
        """,
    )
    check_after(child, f"mandelbrot threads={threads}")
    assert child.value("NEXT_IMAGE") == "[100, 100, 100, 3]", child.describe()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("threads", [None, 1])
def test_interrupt_stops_a_render_in_another_thread(threads: int | None) -> None:
    outcome: list[str] = []

    def work() -> None:
        try:
            gilfree.mandelbrot(4000, 4000, max_iter=65535, threads=threads)
            outcome.append("finished")
        except KeyboardInterrupt:
            outcome.append("KeyboardInterrupt")

    worker = threading.Thread(target=work)
    worker.start()
    while worker.is_alive():  # repeatedly: it does not matter when the call actually started
        gilfree.interrupt()
        worker.join(0.05)
    assert outcome == ["KeyboardInterrupt"]
    assert gilfree.mandelbrot(3, 1, max_iter=9, xmin=-1.0, xmax=2.0, ymin=0.0, ymax=1.0).tolist() == [
        [9, 9, 3]
    ]
