# Dask is only partly typed: its calls return Any.
# mypy: disable-error-code="no-untyped-call,no-any-return"
"""gilfree kernels on Dask arrays: reductions, histogram, bincount and per-block kernels.

Every function takes a ``dask.array.Array`` and returns a lazy one, like its ``dask.array``
namesake, but each block runs a gilfree kernel (GIL released, on the process's shared pool) and the
per-block partials are merged in a fixed order: the same chunking and ``split_every`` give the
same bits on every run, whatever the scheduler, the worker or the thread count. The variance
and the standard deviation merge ``gilfree.moments`` partials ``(n, mean, m2)`` with Chan's update,
block by block in block order.

On a ``distributed`` cluster, register :class:`PoolPlugin` so that each worker process sizes the
gilfree pool to the worker's thread count (docs/dask.md explains why and measures it).

Needs the ``dask`` extra: ``pip install 'gilfree[dask]'``.

Example:
    >>> import dask.array as da, numpy as np
    >>> import gilfree.dask as gd
    >>> a = np.random.default_rng(0).normal(size=100_000)
    >>> x = da.from_array(a, chunks=30_000)
    >>> bool(np.isclose(gd.var(x).compute(), a.var(), rtol=1e-12))
    True
    >>> int(gd.argmax(x).compute()) == int(a.argmax())
    True
"""

from __future__ import annotations

import builtins
import math
import os
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

try:
    import dask.array as da
    from distributed import WorkerPlugin
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("gilfree.dask needs Dask and distributed: pip install 'gilfree[dask]'") from exc

import gilfree
from gilfree._info import num_threads_setting

__all__ = [
    "PoolPlugin",
    "argmax",
    "argmin",
    "bincount",
    "histogram",
    "map_blocks",
    "max",
    "mean",
    "min",
    "std",
    "sum",
    "var",
]

_MOMENTS = np.dtype([("n", np.int64), ("mean", np.float64), ("m2", np.float64)])
_MEANS = np.dtype([("n", np.int64), ("total", np.float64)])
_Axis = int | Sequence[int] | None
_Kernel = Callable[..., Any]


# --- helpers ----------------------------------------------------------------------------------


def _norm_axis(axis: _Axis, ndim: int) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative ints (None: every axis); NumPy's errors."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer, tuple, list)):
        raise TypeError(f"axis must be None, an int or a tuple of ints, not {type(axis).__name__}")
    items = (int(axis),) if isinstance(axis, (int, np.integer)) else tuple(int(i) for i in axis)
    out = []
    for i in items:
        if not -ndim <= i < ndim:
            raise np.exceptions.AxisError(i, ndim)
        out.append(i % ndim)
    if len(set(out)) != len(out):
        raise ValueError("duplicate value in 'axis'")
    return tuple(sorted(out))


def _check_threads(threads: Any) -> int | None:
    """``threads=`` checked when the graph is built, with the kernels' own errors."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be an int or None, not {type(threads).__name__}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return int(threads)


def _check_array(x: Any) -> da.Array:
    if not isinstance(x, da.Array):
        raise TypeError(f"expected a dask.array.Array, not {type(x).__name__} (use dask.array.from_array)")
    return x


def _as_rows(x: npt.NDArray[Any], axis: tuple[int, ...]) -> tuple[npt.NDArray[Any], tuple[int, ...]]:
    """``x`` as a 2-D ``(kept, reduced)`` array (a view when the layout allows) and the keepdims
    shape of a reduction over ``axis``."""
    kept = [i for i in range(x.ndim) if i not in axis]
    shape = tuple(1 if i in axis else x.shape[i] for i in range(x.ndim))
    rows = math.prod(x.shape[i] for i in kept)
    cols = math.prod(x.shape[i] for i in axis)
    return np.transpose(x, kept + list(axis)).reshape(rows, cols), shape


def _along(kernel: _Kernel, x: npt.NDArray[Any], axis: tuple[int, ...], **kw: Any) -> Any:
    """``kernel`` over ``axis`` of ``x`` (any ndim): called on the raveled block when every axis
    is reduced, else on the 2-D ``(kept, reduced)`` view with ``axis=1``; array results come back
    in the keepdims shape."""
    x = np.asarray(x)
    if len(axis) == x.ndim:
        return kernel(np.ravel(x), **kw)
    rows, shape = _as_rows(x, axis)
    out = kernel(rows, axis=1, **kw)
    if isinstance(out, tuple):
        return tuple(np.reshape(o, shape) if isinstance(o, np.ndarray) else o for o in out)
    return np.reshape(out, shape)


def _keep(x: npt.NDArray[Any], axis: tuple[int, ...], keepdims: bool) -> Any:
    """The keepdims shape, or the reduced axes dropped (a NumPy scalar when none is left)."""
    return x if keepdims else np.squeeze(x, axis=axis)[()]


def _result_dtype(op: str, dtype: np.dtype[Any], **kw: Any) -> np.dtype[Any]:
    return np.asarray(getattr(np, op)(np.ones(2, dtype=dtype), **kw)).dtype


# --- sum, min, max: the same kernel per block and per merge -----------------------------------


def _simple_block(
    kernel: _Kernel, out: np.dtype[Any], x: Any, axis: tuple[int, ...], keepdims: bool, threads: int | None
) -> npt.NDArray[Any]:
    """One block (or a stack of partials) reduced by a gilfree kernel, in NumPy's dtype."""
    x = np.asarray(x)
    if x.size == 0 and kernel is not gilfree.sum and any(x.shape[i] == 0 for i in axis):
        # A block empty along a reduced axis (a zero-length chunk of a non-empty array): no
        # partial at all, as Dask's own chunk.min gives; the other blocks' partials decide.
        shape = tuple((1 if n else 0) if i in axis else n for i, n in enumerate(x.shape))
        return _keep(np.empty(shape, dtype=out), axis, keepdims)
    if x.size == 0:
        res = getattr(np, kernel.__name__)(x, axis=axis, keepdims=True)
    else:
        res = _along(kernel, x, axis, threads=threads)
        shape = tuple(1 if i in axis else n for i, n in enumerate(x.shape))
        res = np.asarray(res, dtype=out).reshape(shape)
    return _keep(np.asarray(res, dtype=out), axis, keepdims)


def _reduce(
    x: da.Array,
    chunk: Any,
    aggregate: Any,
    combine: Any,
    ax: tuple[int, ...],
    keepdims: bool,
    out: Any,
    split_every: Any,
    name: str,
    ndim: int,
) -> da.Array:
    """``dask.array.reduction`` of ``x`` (an array of ``ndim`` dimensions before any per-block
    step) over ``ax``, named ``gilfree-<name>``, with the meta of a ``out`` result."""
    return da.reduction(
        x,
        chunk,
        aggregate,
        combine=combine,
        axis=ax,
        keepdims=keepdims,
        dtype=out,
        split_every=split_every,
        name=f"gilfree-{name}",
        meta=np.empty((0,) * (ndim if keepdims else ndim - len(ax)), dtype=out),
    )


def _simple(
    kernel: _Kernel,
    x: da.Array,
    axis: _Axis,
    keepdims: bool,
    split_every: Any,
    threads: int | None,
) -> da.Array:
    x = _check_array(x)
    threads = _check_threads(threads)
    ax = _norm_axis(axis, x.ndim)
    out = _result_dtype(kernel.__name__, x.dtype)
    if kernel is not gilfree.sum and x.size == 0:
        raise ValueError(f"zero-size array to reduction operation {kernel.__name__} which has no identity")
    f = partial(_simple_block, kernel, out, threads=threads)
    return _reduce(x, f, f, None, ax, keepdims, out, split_every, kernel.__name__, x.ndim)


def sum(
    x: da.Array,
    axis: _Axis = None,
    *,
    keepdims: bool = False,
    split_every: Any = None,
    threads: int | None = None,
) -> da.Array:
    """The sum of the elements of ``x`` over ``axis``, like ``dask.array.sum``.

    Each block and each merge of partials is a ``gilfree.sum`` (integer sums are exact and raise
    OverflowError where NumPy would wrap); the result has NumPy's dtype.

    Example:
        >>> import dask.array as da, numpy as np, gilfree.dask as gd
        >>> x = da.arange(12, chunks=5).reshape(3, 4)
        >>> gd.sum(x).compute()
        np.int64(66)
        >>> gd.sum(x, axis=0).compute()
        array([12, 15, 18, 21])
    """
    return _simple(gilfree.sum, x, axis, keepdims, split_every, threads)


def min(
    x: da.Array,
    axis: _Axis = None,
    *,
    keepdims: bool = False,
    split_every: Any = None,
    threads: int | None = None,
) -> da.Array:
    """The smallest element of ``x`` over ``axis`` (NaN propagates), like ``dask.array.min``.

    Example:
        >>> import dask.array as da, gilfree.dask as gd
        >>> gd.min(da.arange(10, chunks=3) - 4).compute()
        np.int64(-4)
    """
    return _simple(gilfree.min, x, axis, keepdims, split_every, threads)


def max(
    x: da.Array,
    axis: _Axis = None,
    *,
    keepdims: bool = False,
    split_every: Any = None,
    threads: int | None = None,
) -> da.Array:
    """The largest element of ``x`` over ``axis`` (NaN propagates), like ``dask.array.max``.

    Example:
        >>> import dask.array as da, gilfree.dask as gd
        >>> gd.max(da.arange(10, chunks=3), axis=0).compute()
        np.int64(9)
    """
    return _simple(gilfree.max, x, axis, keepdims, split_every, threads)


# --- mean, var, std: moments partials merged in block order ------------------------------------


def _moments_block(
    x: Any, axis: tuple[int, ...], keepdims: bool, threads: int | None, computing_meta: bool = False
) -> npt.NDArray[Any]:
    if computing_meta:
        return _meta_probe(x)
    """``(n, mean, m2)`` of one block over ``axis``, as a keepdims array of ``_MOMENTS``."""
    x = np.asarray(x)
    shape = tuple(1 if i in axis else n for i, n in enumerate(x.shape))
    out = np.zeros(shape, dtype=_MOMENTS)
    if x.size == 0:
        return out
    n, mean, m2 = _along(gilfree.moments, x, axis, threads=threads)
    out["n"] = n
    if n:
        out["mean"] = mean
        out["m2"] = m2
    return out


def _merge_moments(p: npt.NDArray[Any], axis: tuple[int, ...], keepdims: bool) -> npt.NDArray[Any]:
    """Chan's merge of the partials along ``axis``, one column at a time in block order."""
    rows, shape = _as_rows(p, axis)
    n = np.zeros(rows.shape[0], dtype=np.int64)
    mean = np.zeros(rows.shape[0], dtype=np.float64)
    m2 = np.zeros(rows.shape[0], dtype=np.float64)
    for j in range(rows.shape[1]):
        nb, mb, m2b = rows["n"][:, j], rows["mean"][:, j], rows["m2"][:, j]
        tot = n + nb
        safe = np.where(tot == 0, 1, tot).astype(np.float64)
        delta = mb - mean
        new_mean = np.where(nb == 0, mean, np.where(n == 0, mb, mean + delta * (nb / safe)))
        new_m2 = np.where(
            nb == 0, m2, np.where(n == 0, m2b, m2 + m2b + delta * delta * (n.astype(np.float64) * nb / safe))
        )
        n, mean, m2 = tot, new_mean, new_m2
    out = np.empty(shape, dtype=_MOMENTS)
    out["n"] = n.reshape(shape)
    out["mean"] = mean.reshape(shape)
    out["m2"] = m2.reshape(shape)
    return _keep(out, axis, keepdims)


def _var_final(
    p: npt.NDArray[Any], axis: tuple[int, ...], keepdims: bool, ddof: int, root: bool, out: np.dtype[Any]
) -> npt.NDArray[Any]:
    m = _merge_moments(p, axis, keepdims)
    denom = np.maximum(m["n"] - ddof, 0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(m["n"] == 0, np.nan, m["m2"] / denom)
    return np.asarray(np.sqrt(v) if root else v).astype(out)[()]


def _mean_block(
    x: Any, axis: tuple[int, ...], keepdims: bool, threads: int | None, computing_meta: bool = False
) -> npt.NDArray[Any]:
    if computing_meta:
        return _meta_probe(x)
    x = np.asarray(x)
    shape = tuple(1 if i in axis else n for i, n in enumerate(x.shape))
    out = np.zeros(shape, dtype=_MEANS)
    out["n"] = math.prod(x.shape[i] for i in axis)
    if x.size:
        src = x if x.dtype.kind == "f" else x.astype(np.float64)
        out["total"] = _along(gilfree.sum, src, axis, threads=threads)
    return out


def _mean_combine(p: npt.NDArray[Any], axis: tuple[int, ...], keepdims: bool) -> npt.NDArray[Any]:
    rows, shape = _as_rows(p, axis)
    out = np.empty(shape, dtype=_MEANS)
    out["n"] = rows["n"].sum(axis=1).reshape(shape)
    total = np.zeros(rows.shape[0], dtype=np.float64)
    for j in range(rows.shape[1]):  # block order, one add per partial
        total = total + rows["total"][:, j]
    out["total"] = total.reshape(shape)
    return _keep(out, axis, keepdims)


def _mean_final(
    p: npt.NDArray[Any], axis: tuple[int, ...], keepdims: bool, out: np.dtype[Any]
) -> npt.NDArray[Any]:
    m = _mean_combine(p, axis, keepdims)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(m["total"] / m["n"]).astype(out)[()]


def _check_ddof(ddof: Any) -> int:
    if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)):
        raise TypeError(f"ddof must be an int, not {type(ddof).__name__}")
    return int(ddof)


def _moment_reduction(
    x: da.Array, axis: _Axis, keepdims: bool, split_every: Any, threads: int | None, final: Any, op: str
) -> da.Array:
    x = _check_array(x)
    threads = _check_threads(threads)
    ax = _norm_axis(axis, x.ndim)
    out = np.dtype(final.keywords["out"])
    chunk = partial(_mean_block if op == "mean" else _moments_block, threads=threads)
    combine = _mean_combine if op == "mean" else _merge_moments
    return _reduce(x, chunk, final, combine, ax, keepdims, out, split_every, op, x.ndim)


def mean(
    x: da.Array,
    axis: _Axis = None,
    *,
    keepdims: bool = False,
    split_every: Any = None,
    threads: int | None = None,
) -> da.Array:
    """The arithmetic mean over ``axis``, like ``dask.array.mean``: per-block ``gilfree.sum`` in
    float64, the partial sums added in block order.

    Example:
        >>> import dask.array as da, gilfree.dask as gd
        >>> float(gd.mean(da.arange(10, chunks=3)).compute())
        4.5
    """
    out = _result_dtype("mean", _check_array(x).dtype)
    return _moment_reduction(x, axis, keepdims, split_every, threads, partial(_mean_final, out=out), "mean")


def var(
    x: da.Array,
    axis: _Axis = None,
    *,
    ddof: int = 0,
    keepdims: bool = False,
    split_every: Any = None,
    threads: int | None = None,
) -> da.Array:
    """The variance over ``axis``, like ``dask.array.var``: ``gilfree.moments`` per block, the
    ``(n, mean, m2)`` partials merged by Chan's update in block order (same chunking, same bits).

    Example:
        >>> import dask.array as da, gilfree.dask as gd
        >>> float(gd.var(da.arange(10, chunks=3), ddof=1).compute())
        9.166666666666666
    """
    ddof = _check_ddof(ddof)
    out = _result_dtype("var", _check_array(x).dtype)
    final = partial(_var_final, ddof=ddof, root=False, out=out)
    return _moment_reduction(x, axis, keepdims, split_every, threads, final, "var")


def std(
    x: da.Array,
    axis: _Axis = None,
    *,
    ddof: int = 0,
    keepdims: bool = False,
    split_every: Any = None,
    threads: int | None = None,
) -> da.Array:
    """The standard deviation over ``axis``, ``sqrt(var(x, axis, ddof=ddof))``.

    Example:
        >>> import dask.array as da, gilfree.dask as gd
        >>> float(gd.std(da.arange(10, chunks=3)).compute())
        2.8722813232690143
    """
    ddof = _check_ddof(ddof)
    out = _result_dtype("std", _check_array(x).dtype)
    final = partial(_var_final, ddof=ddof, root=True, out=out)
    return _moment_reduction(x, axis, keepdims, split_every, threads, final, "std")


# --- argmin, argmax: (global index, value) partials ------------------------------------------


def _arg_block(
    x: Any,
    kernel: _Kernel,
    axis: int | None,
    threads: int | None,
    part: np.dtype[Any],
    block_info: dict[Any, Any] | None = None,
) -> npt.NDArray[Any]:
    """One block's ``(arg, val)``: the kernel's local index made global with the block's place."""
    x = np.asarray(x)
    if block_info is None:  # dask's meta probe
        return np.empty((0,) * x.ndim, dtype=part)
    info = block_info[0]
    starts = [s for s, _ in info["array-location"]]
    if axis is None:
        out = np.empty((1,) * x.ndim, dtype=part)
        local = int(kernel(np.ravel(x), threads=threads))
        multi = np.unravel_index(local, x.shape)
        out["val"] = x[multi]
        out["arg"] = np.ravel_multi_index(
            tuple(int(m) + s for m, s in zip(multi, starts, strict=True)), info["shape"]
        )
        return out
    shape = tuple(1 if i == axis else n for i, n in enumerate(x.shape))
    local_idx = np.asarray(_along(kernel, x, (axis,), threads=threads), dtype=np.int64).reshape(shape)
    out = np.empty(local_idx.shape, dtype=part)
    out["val"] = np.take_along_axis(x, local_idx, axis=axis)
    out["arg"] = local_idx + starts[axis]
    return out


def _arg_merge(
    p: npt.NDArray[Any], axis: tuple[int, ...], keepdims: bool, smallest: bool, final: bool
) -> npt.NDArray[Any]:
    """The winning partial along ``axis``: the first NaN, else the extreme value with the
    smallest global index (NumPy's rule), whatever the order of the partials."""
    rows, shape = _as_rows(p, axis)
    vals, args = rows["val"], rows["arg"]
    ext = vals.min(axis=1) if smallest else vals.max(axis=1)
    cand = vals == ext[:, None]
    if vals.dtype.kind == "f":
        nan = np.isnan(vals)
        cand = np.where(nan.any(axis=1)[:, None], nan, cand)
    masked = np.where(cand, args, np.iinfo(np.int64).max)
    col = masked.argmin(axis=1)
    win = rows[np.arange(rows.shape[0]), col].reshape(shape)
    win = _keep(win, axis, keepdims)
    return np.asarray(win["arg"], dtype=np.intp)[()] if final else win


def _arg(
    kernel: _Kernel, x: da.Array, axis: int | None, keepdims: bool, split_every: Any, threads: int | None
) -> da.Array:
    x = _check_array(x)
    threads = _check_threads(threads)
    if axis is not None and (isinstance(axis, bool) or not isinstance(axis, (int, np.integer))):
        raise TypeError(f"axis must be None or an int, not {type(axis).__name__}")
    if x.size == 0:
        raise ValueError(f"attempt to get {kernel.__name__} of an empty sequence")
    one = None if axis is None else _norm_axis(axis, x.ndim)[0]
    ax = tuple(range(x.ndim)) if one is None else (one,)
    part = np.dtype([("arg", np.int64), ("val", x.dtype)])
    parts = da.map_blocks(
        partial(_arg_block, kernel=kernel, axis=one, threads=threads, part=part),
        x,
        chunks=tuple((1,) * len(c) if i in ax else c for i, c in enumerate(x.chunks)),
        dtype=part,
        meta=np.empty((0,) * x.ndim, dtype=part),
        token=f"gilfree-{kernel.__name__}-chunk",
    )
    smallest = kernel is gilfree.argmin
    final = partial(_arg_merge, smallest=smallest, final=True)
    combine = partial(_arg_merge, smallest=smallest, final=False)
    name = kernel.__name__
    return _reduce(parts, _identity, final, combine, ax, keepdims, np.intp, split_every, name, x.ndim)


def _identity(x: Any, axis: Any = None, keepdims: bool = True, computing_meta: bool = False) -> Any:
    return _meta_probe(x) if computing_meta else x


def _meta_probe(x: Any) -> npt.NDArray[Any]:
    """What a chunk function gives Dask's meta probe: an empty numeric array (Dask casts it to
    the reduction's dtype; the structured partials cannot be cast)."""
    return np.empty(np.shape(x), dtype=np.float64)


def argmin(
    x: da.Array,
    axis: int | None = None,
    *,
    keepdims: bool = False,
    split_every: Any = None,
    threads: int | None = None,
) -> da.Array:
    """The index of the first smallest element (or first NaN), like ``dask.array.argmin``:
    flat over the whole array for ``axis=None``.

    Example:
        >>> import dask.array as da, numpy as np, gilfree.dask as gd
        >>> x = da.from_array(np.array([[3, 1, 4], [1, 5, 0]]), chunks=(1, 2))
        >>> int(gd.argmin(x).compute()), gd.argmin(x, axis=1).compute().tolist()
        (5, [1, 2])
    """
    return _arg(gilfree.argmin, x, axis, keepdims, split_every, threads)


def argmax(
    x: da.Array,
    axis: int | None = None,
    *,
    keepdims: bool = False,
    split_every: Any = None,
    threads: int | None = None,
) -> da.Array:
    """The index of the first largest element (or first NaN), like ``dask.array.argmax``.

    Example:
        >>> import dask.array as da, numpy as np, gilfree.dask as gd
        >>> x = da.from_array(np.array([[3, 1, 4], [1, 5, 0]]), chunks=(1, 2))
        >>> int(gd.argmax(x).compute()), gd.argmax(x, axis=0).compute().tolist()
        (4, [0, 1, 0])
    """
    return _arg(gilfree.argmax, x, axis, keepdims, split_every, threads)


# --- histogram, bincount -------------------------------------------------------------------------


def _hist_block(
    x: Any, w: Any = None, *, bins: Any, range_: Any, threads: int | None, ndim: int
) -> npt.NDArray[Any]:
    x = np.ravel(np.asarray(x))
    wr = None if w is None else np.ravel(np.asarray(w))
    counts, _ = gilfree.histogram(x, bins, range_, weights=wr, threads=threads)
    return np.reshape(counts, (1,) * ndim + (-1,))


def histogram(
    x: da.Array,
    bins: Any = 10,
    range: tuple[float, float] | None = None,
    *,
    weights: da.Array | None = None,
    density: bool = False,
    split_every: Any = None,
    threads: int | None = None,
) -> tuple[da.Array, npt.NDArray[Any]]:
    """``(hist, bin_edges)`` of the flattened ``x``, like ``dask.array.histogram``: a
    ``gilfree.histogram`` per block, the counts summed in block order; ``hist`` is lazy, the
    edges a NumPy array. ``bins`` is an int with an explicit ``range=``, or the bin edges.

    Example:
        >>> import dask.array as da, gilfree.dask as gd
        >>> hist, edges = gd.histogram(da.arange(10, chunks=4), bins=5, range=(0, 10))
        >>> hist.compute().tolist(), edges.tolist()
        ([2, 2, 2, 2, 2], [0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    """
    x = _check_array(x)
    threads = _check_threads(threads)
    if np.ndim(bins) == 0 and range is None:
        raise ValueError("histogram needs range= when bins is an int (or give the bin edges)")
    if weights is not None:
        weights = _check_array(weights)
        if weights.shape != x.shape:
            raise ValueError(f"weights should have the same shape as x: {weights.shape} != {x.shape}")
        weights = weights.rechunk(x.chunks)
    empty_w = None if weights is None else np.empty(0, dtype=weights.dtype)
    counts0, edges = gilfree.histogram(np.empty(0, dtype=x.dtype), bins, range, weights=empty_w)
    nbins = len(counts0)
    fn = partial(_hist_block, bins=bins, range_=range, threads=threads, ndim=x.ndim)
    args = [x] if weights is None else [x, weights]
    parts = da.map_blocks(
        fn,
        *args,
        chunks=(*((1,) * len(c) for c in x.chunks), (nbins,)),
        new_axis=x.ndim,
        dtype=counts0.dtype,
        meta=np.empty((0,) * (x.ndim + 1), dtype=counts0.dtype),
        token="gilfree-histogram-chunk",
    )
    hist = sum(parts, axis=tuple(builtins.range(x.ndim)), split_every=split_every, threads=threads)
    if density:
        db = np.diff(edges).astype(np.float64)
        hist = hist / db / hist.sum()
    return hist, edges


def _bincount_block(x: Any, w: Any = None, *, minlength: int, threads: int | None) -> npt.NDArray[Any]:
    return gilfree.bincount(np.asarray(x), None if w is None else np.asarray(w), minlength, threads=threads)


def _bincount_merge(parts: Any, axis: Any = None, keepdims: bool = True, out: Any = None) -> npt.NDArray[Any]:
    if not isinstance(parts, list):
        return np.asarray(parts)
    flat = [np.asarray(_bincount_merge(p, out=out)) for p in parts]
    n = builtins.max(len(p) for p in flat)
    res = np.zeros(n, dtype=out)
    for p in flat:  # block order
        res[: len(p)] += p
    return res


def bincount(
    x: da.Array,
    weights: da.Array | None = None,
    minlength: int = 0,
    *,
    split_every: Any = None,
    threads: int | None = None,
) -> da.Array:
    """Counts (or weight sums) of each non-negative int of a 1-D ``x``, like
    ``dask.array.bincount``: a ``gilfree.bincount`` per block, added in block order. Without
    ``minlength`` the length is unknown until computed (NaN chunks), as in Dask.

    Example:
        >>> import dask.array as da, numpy as np, gilfree.dask as gd
        >>> x = da.from_array(np.array([0, 1, 1, 3, 1]), chunks=2)
        >>> gd.bincount(x, minlength=5).compute().tolist()
        [1, 3, 0, 1, 0]
    """
    x = _check_array(x)
    threads = _check_threads(threads)
    if x.ndim != 1:
        raise ValueError("bincount needs a one-dimensional array (try x.ravel())")
    if isinstance(minlength, bool) or not isinstance(minlength, (int, np.integer)):
        raise TypeError(f"minlength must be an int, not {type(minlength).__name__}")
    if minlength < 0:
        raise ValueError("minlength must be non-negative")
    if weights is not None:
        weights = _check_array(weights)
        if weights.chunks != x.chunks:
            raise ValueError("Chunks of input array x and weights must match.")
    # NumPy's dtype: intp counts, float64 weight sums.
    out = np.dtype(np.intp if weights is None else np.float64)
    size = float("nan") if minlength == 0 else int(minlength)
    args = [x] if weights is None else [x, weights]
    parts = da.map_blocks(
        partial(_bincount_block, minlength=int(minlength), threads=threads),
        *args,
        chunks=((size,) * len(x.chunks[0]),),
        dtype=out,
        meta=np.empty(0, dtype=out),
        token="gilfree-bincount-chunk",
    )
    merge = partial(_bincount_merge, out=out)
    res = da.reduction(
        parts,
        _identity,
        merge,
        combine=merge,
        axis=0,
        keepdims=True,
        dtype=out,
        split_every=split_every,
        concatenate=False,
        name="gilfree-bincount",
        meta=np.empty(0, dtype=out),
    )
    res._chunks = ((size,),)
    return res


# --- per-block kernels -----------------------------------------------------------------------------


def _call(kernel: _Kernel, threads: int | None, *blocks: Any, **kw: Any) -> Any:
    return kernel(*blocks, threads=threads, **kw)


def map_blocks(kernel: _Kernel, *arrays: Any, threads: int | None = None, **kwargs: Any) -> da.Array:
    """``dask.array.map_blocks`` for a gilfree-style kernel: any callable taking ``threads=``
    (gilfree's own, or your ``gilfree-pyo3`` / ``gilfree.h`` extension's), called on each block
    with ``threads=threads``. Dask's keywords (``dtype``, ``chunks``, ``drop_axis``, ...) pass
    through; the other keywords go to the kernel.

    Example:
        >>> import dask.array as da, numpy as np, gilfree, gilfree.dask as gd
        >>> x = da.from_array(np.array([3.0, 1.0, 2.0, 9.0, 7.0, 8.0]), chunks=3)
        >>> gd.map_blocks(gilfree.sort, x, threads=1).compute().tolist()
        [1.0, 2.0, 3.0, 7.0, 8.0, 9.0]
    """
    if not callable(kernel):
        raise TypeError(f"kernel must be callable, not {type(kernel).__name__}")
    threads = _check_threads(threads)
    return da.map_blocks(partial(_call, kernel, threads), *arrays, **kwargs)


# --- pool sizing on distributed workers -------------------------------------------------------------

_LOCK = threading.Lock()
_WORKERS: dict[str, int] = {}
#: The setting before the first worker of this process sized the pool (None: the environment).
_BEFORE: list[int | None] = []


def _resize() -> None:
    if _WORKERS:
        gilfree.set_num_threads(builtins.max(1, builtins.sum(_WORKERS.values())))
    elif _BEFORE:
        gilfree.set_num_threads(_BEFORE.pop())


class PoolPlugin(WorkerPlugin):
    """A ``distributed`` worker plugin that sizes each worker process's gilfree pool to the
    threads Dask gave its workers (``nthreads``; the sum when several workers share a process),
    or to ``threads`` when given. Register it once: ``client.register_plugin(PoolPlugin())``.

    Without it every worker process starts a pool of ``os.cpu_count()`` threads, so a cluster of
    W worker processes runs up to ``W x cores`` compute threads on ``cores`` cores.

    Example:
        >>> from gilfree.dask import PoolPlugin
        >>> PoolPlugin(threads=2).threads
        2
    """

    name = "gilfree-pool"

    def __init__(self, threads: int | None = None) -> None:
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)):
            raise TypeError(f"threads must be an int or None, not {type(threads).__name__}")
        if threads is not None and threads < 1:
            raise ValueError("threads must be >= 1")
        self.threads = threads

    def setup(self, worker: Any) -> None:
        """Called by the worker when the plugin is registered or the worker starts."""
        n = self.threads or int(
            getattr(getattr(worker, "state", worker), "nthreads", 0) or os.cpu_count() or 1
        )
        with _LOCK:
            if not _WORKERS:
                _BEFORE.append(num_threads_setting())
            _WORKERS[str(worker.address)] = n
            _resize()

    def teardown(self, worker: Any) -> None:
        """Called when the worker closes: its threads leave the pool size."""
        with _LOCK:
            _WORKERS.pop(str(worker.address), None)
            _resize()
