"""The NumPy peers and references of ``bench_compute.py`` (NumPy only: always available).

* :func:`mandelbrot_coords` -- the pixel coordinates of gilfree's documented Mandelbrot formula,
  shared by every Mandelbrot peer so that they all iterate on the very same ``c``;
* :func:`mandelbrot` -- the vectorised Mandelbrot: all pixels iterate together as flat arrays,
  and the escaped ones are dropped (compressed out) after each iteration;
* :func:`spectral_norm` -- an independent reference for the spectral norm: the Benchmarks Game
  algorithm with the matrix built explicitly and multiplied with ``@``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["mandelbrot", "mandelbrot_coords", "spectral_norm"]

F64Array = npt.NDArray[np.float64]


def mandelbrot_coords(
    width: int,
    height: int,
    xmin: float,
    xmax: float,
    ymin: float,
    ymax: float,
    *,
    step_first: bool = False,
) -> tuple[F64Array, F64Array]:
    """The pixel coordinates of gilfree's documented formula, ``cr[j] = xmin + j*(xmax-xmin)/width``
    and ``ci[i] = ymin + i*(ymax-ymin)/height``, evaluated left to right in float64: ``j`` times the
    span, divided by the size, plus the minimum.

    ``step_first=True`` gives the other common reading, ``xmin + j*((xmax-xmin)/width)`` (the step
    computed once), which can round differently in the last bit; the benchmark uses it only to
    explain a mismatch.
    """
    j = np.arange(width, dtype=np.float64)
    i = np.arange(height, dtype=np.float64)
    if step_first:
        return xmin + j * ((xmax - xmin) / width), ymin + i * ((ymax - ymin) / height)
    return xmin + j * (xmax - xmin) / width, ymin + i * (ymax - ymin) / height


def mandelbrot(
    width: int,
    height: int,
    max_iter: int,
    xmin: float,
    xmax: float,
    ymin: float,
    ymax: float,
    *,
    step_first: bool = False,
) -> npt.NDArray[np.uint16]:
    """Vectorised Mandelbrot, uint16[height, width]: the iterations done before ``|z|^2 > 4``
    (``z <- z^2 + c`` from ``z = 0``), or ``max_iter``. Every still-bounded pixel takes one step
    per NumPy pass; the escaped ones are recorded and compressed out."""
    cr, ci = mandelbrot_coords(width, height, xmin, xmax, ymin, ymax, step_first=step_first)
    out = np.full(width * height, max_iter, dtype=np.uint16)
    idx = np.arange(width * height)
    c_re = np.tile(cr, height)
    c_im = np.repeat(ci, width)
    zr = np.zeros(width * height)
    zi = np.zeros(width * height)
    for n in range(max_iter):
        zr2 = zr * zr
        zi2 = zi * zi
        escaped = zr2 + zi2 > 4.0
        if escaped.any():
            out[idx[escaped]] = n
            keep = ~escaped
            idx, zr, zi, zr2, zi2 = idx[keep], zr[keep], zi[keep], zr2[keep], zi2[keep]
            c_re, c_im = c_re[keep], c_im[keep]
            if idx.size == 0:
                break
        zi = 2.0 * zr * zi + c_im
        zr = zr2 - zi2 + c_re
    return out.reshape(height, width)


def spectral_norm(n: int) -> float:
    """The Benchmarks Game spectral norm of the n x n matrix ``A[i, j] = 1/((i+j)(i+j+1)/2 + i+1)``,
    with ``A`` built explicitly (n*n*8 bytes: 32 MB at n = 2000)."""
    i = np.arange(n, dtype=np.int64)[:, None]
    j = np.arange(n, dtype=np.int64)[None, :]
    a: F64Array = 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)
    u = np.ones(n)
    v = u
    for _ in range(10):
        v = a.T @ (a @ u)
        u = a.T @ (a @ v)
    return math.sqrt(float(u @ v) / float(v @ v))
