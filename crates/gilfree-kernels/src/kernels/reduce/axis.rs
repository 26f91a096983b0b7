//! Reductions along one axis of a 2-D array held in C order (`rows × cols`, row-major, packed).
//!
//! * [`Axis::Rows`] reduces each row (NumPy's `axis=1` on a C-order array): rows are independent,
//!   so they are spread over the pool in fixed blocks of rows; a row is reduced exactly as the
//!   1-D kernel reduces a slice (the same chunks, the same combining order), so
//!   `sum(a, axis=1)[i]` has the bits of `sum(a[i])`. A row longer than a chunk is reduced by the
//!   parallel 1-D kernel itself, one row after the other.
//! * [`Axis::Cols`] reduces each column (NumPy's `axis=0`): the array is cut into fixed blocks of
//!   rows (and tiles of columns, which do not change any result); each block accumulates its rows
//!   into a vector of column accumulators — the inner loop runs along a row, so it vectorises —
//!   and the blocks' partials combine per column in block order.
//!
//! Block boundaries depend on the shape only: the same bits at every thread count. A Fortran-order
//! array is the C-order array of its transpose, so the binding reduces it with the other axis.

use super::{
    better, merged_moments_serial, Element, Extreme, Int, Moments, CHUNK_LEN, MIN_CHUNKS_PER_WORKER,
};
use crate::engine::Ctx;
use crate::{simd, try_vec, Error, Result};

/// Which elements one result reduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// One result per row (NumPy's `axis=1` of a C-order array).
    Rows,
    /// One result per column (NumPy's `axis=0` of a C-order array).
    Cols,
}

/// Columns per tile of a column reduction: the accumulators of a tile stay in L1/L2. (4096 was
/// slower on the 2-core EPYC: var axis=0 of 5000 x 5000 1.7x NumPy instead of 2.5x.)
const COL_TILE: usize = 1024;

/// Rows per sub-block of a column variance: `MOMENT_ROWS × COL_TILE` float64 (128 KiB) are
/// still in L2 for the second pass.
const MOMENT_ROWS: usize = 16;

/// Lanes (columns held in registers) of the column extreme loop.
const COL_LANES: usize = 16;

/// Rows per register pass of the column extreme loop: few, so that the loop walking across their
/// column groups reads few memory streams at once (32 rows, 32 streams 40 KB apart on a 5000-column
/// array, defeated the hardware prefetcher: 62 ms for 5000 x 5000 on one thread, the sum 23 ms).
const EXTREME_ROWS: usize = 4;

/// Elements per task (about four chunks of the 1-D kernels).
const TASK_ELEMS: usize = 4 * CHUNK_LEN;

/// Rows per block of a column reduction: a function of the shape only.
fn col_block_rows(cols: usize) -> usize {
    (TASK_ELEMS / cols.clamp(1, COL_TILE)).max(MOMENT_ROWS)
}

/// The `grain` of [`Ctx::map_tasks_grained`] for tasks of `per_task` elements: small inputs stay
/// on the calling thread, as in the 1-D kernels.
fn grain_for(per_task: usize) -> usize {
    (MIN_CHUNKS_PER_WORKER * CHUNK_LEN / per_task.max(1)).max(1)
}

/// One result per row: `short(row)` for rows of at most [`CHUNK_LEN`] elements (tasks of whole
/// rows), `long(ctx, row)` (the parallel 1-D kernel, giving the same bits) for longer rows.
fn per_row<T, R, S, L>(ctx: &Ctx<'_>, a: &[T], rows: usize, cols: usize, short: S, long: L) -> Result<Vec<R>>
where
    T: Sync,
    R: Send,
    S: Fn(&[T]) -> R + Sync,
    L: Fn(&Ctx<'_>, &[T]) -> Result<R>,
{
    let mut out: Vec<R> = try_vec(rows, "the result")?;
    if cols > CHUNK_LEN {
        for row in a.chunks_exact(cols) {
            out.push(long(ctx, row)?);
        }
        return Ok(out);
    }
    let per_task = (CHUNK_LEN / cols.max(1)).max(1);
    let tasks = rows.div_ceil(per_task);
    let parts = ctx.map_tasks_grained(tasks, grain_for(per_task * cols), |t| {
        let first = t * per_task;
        let last = rows.min(first + per_task);
        let mut part: Vec<R> = try_vec(last - first, "the result")?;
        for i in first..last {
            part.push(short(&a[i * cols..(i + 1) * cols]));
        }
        Ok::<_, Error>(part)
    })?;
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// One partial per (block of rows, tile of columns) from `block(rows_slice_start, rows, col
/// range)`, then for each column the partials of its blocks folded in block order by `merge`.
fn per_col<T, P, B, M>(ctx: &Ctx<'_>, a: &[T], rows: usize, cols: usize, block: B, merge: M) -> Result<Vec<P>>
where
    T: Sync,
    P: Send + Copy,
    B: Fn(&[T], usize, std::ops::Range<usize>, std::ops::Range<usize>) -> Result<Vec<P>> + Sync,
    M: Fn(&[P]) -> P,
{
    let block_rows = col_block_rows(cols);
    let blocks = rows.div_ceil(block_rows);
    let tiles = cols.div_ceil(COL_TILE);
    let per_task = block_rows * cols.min(COL_TILE);
    let parts = ctx.map_tasks_grained(blocks * tiles, grain_for(per_task), |t| {
        let (b, tile) = (t / tiles, t % tiles);
        let r = b * block_rows..rows.min((b + 1) * block_rows);
        let c = tile * COL_TILE..cols.min((tile + 1) * COL_TILE);
        block(a, cols, r, c)
    })?;
    let mut parts_ok: Vec<Vec<P>> = try_vec(parts.len(), "the partial results")?;
    for p in parts {
        parts_ok.push(p?);
    }
    let mut out: Vec<P> = try_vec(cols, "the result")?;
    let mut column: Vec<P> = try_vec(blocks, "the partial results")?;
    for j in 0..cols {
        ctx.checkpoint()?;
        let (tile, k) = (j / COL_TILE, j % COL_TILE);
        column.clear();
        column.extend((0..blocks).map(|b| parts_ok[b * tiles + tile][k]));
        out.push(merge(&column));
    }
    Ok(out)
}

/// Pairwise combination in order (as the 1-D kernels combine chunk sums).
fn pairwise_merge(p: &[f64]) -> f64 {
    match p.len() {
        0 => 0.0,
        1 => p[0],
        n => pairwise_merge(&p[..n / 2]) + pairwise_merge(&p[n / 2..]),
    }
}

/// The float sums along `axis`, in f64.
pub fn sum_float<T: Element>(
    ctx: &Ctx<'_>,
    a: &[T],
    rows: usize,
    cols: usize,
    axis: Axis,
) -> Result<Vec<f64>> {
    debug_assert_eq!(a.len(), rows * cols);
    match axis {
        Axis::Rows => per_row(
            ctx,
            a,
            rows,
            cols,
            |r| simd::dispatch(super::FloatSum(r)),
            super::sum_float,
        ),
        Axis::Cols => per_col(
            ctx,
            a,
            rows,
            cols,
            |a, cols, r, c| Ok(simd::dispatch(ColSum { a, cols, r, c })),
            pairwise_merge,
        ),
    }
}

/// The exact integer sums along `axis`.
pub fn sum_int<T: Int>(ctx: &Ctx<'_>, a: &[T], rows: usize, cols: usize, axis: Axis) -> Result<Vec<i128>> {
    debug_assert_eq!(a.len(), rows * cols);
    match axis {
        Axis::Rows => per_row(
            ctx,
            a,
            rows,
            cols,
            |r| simd::dispatch(super::IntSum(r)),
            super::sum_int_wide,
        ),
        Axis::Cols => per_col(
            ctx,
            a,
            rows,
            cols,
            |a, cols, r, c| simd::dispatch(ColIntSum { a, cols, r, c }),
            |p: &[i128]| p.iter().sum(),
        ),
    }
}

/// `(n, mean, m2)` along `axis` (see [`super::moments`]); `n` is the length of the axis.
pub fn moments<T: Element>(
    ctx: &Ctx<'_>,
    a: &[T],
    rows: usize,
    cols: usize,
    axis: Axis,
) -> Result<Vec<(f64, f64)>> {
    debug_assert_eq!(a.len(), rows * cols);
    match axis {
        Axis::Rows => per_row(
            ctx,
            a,
            rows,
            cols,
            |r| {
                let (m, shift) = merged_moments_serial(r);
                finish_moments(m, shift)
            },
            |ctx, r| super::moments(ctx, r).map(|(_, mean, m2)| (mean, m2)),
        ),
        Axis::Cols => {
            if rows == 0 {
                let mut out = try_vec(cols, "the result")?;
                out.resize(cols, (0.0, 0.0));
                return Ok(out);
            }
            // Each column is shifted by its first element (a function of the input only), so
            // that the means merged are of the order of the spread (see `merged_moments`).
            let mut shift: Vec<f64> = try_vec(cols, "the column shifts")?;
            shift.extend(a[..cols].iter().map(|x| {
                let s = x.to_f64();
                if s.is_finite() {
                    s
                } else {
                    0.0
                }
            }));
            let parts = per_col(
                ctx,
                a,
                rows,
                cols,
                |a, cols, r, c| {
                    simd::dispatch(ColMoments {
                        a,
                        cols,
                        r,
                        c: c.clone(),
                        shift: &shift[c],
                    })
                },
                |p: &[Moments]| p.iter().copied().fold(Moments::EMPTY, Moments::merge),
            )?;
            Ok(parts
                .iter()
                .zip(&shift)
                .map(|(m, s)| finish_moments(*m, *s))
                .collect())
        }
    }
}

fn finish_moments(m: Moments, shift: f64) -> (f64, f64) {
    if m.n == 0 {
        (0.0, 0.0)
    } else {
        (shift + m.mean, m.m2)
    }
}

/// The variances along `axis` with `ddof` delta degrees of freedom, NumPy's rule as
/// [`super::var`] (inf or nan when `n - ddof <= 0`).
pub fn var<T: Element>(
    ctx: &Ctx<'_>,
    a: &[T],
    rows: usize,
    cols: usize,
    axis: Axis,
    ddof: i64,
) -> Result<Vec<f64>> {
    let m = moments(ctx, a, rows, cols, axis)?;
    let n = match axis {
        Axis::Rows => cols,
        Axis::Cols => rows,
    };
    #[allow(clippy::cast_precision_loss)]
    let dof = n as f64 - ddof as f64;
    let mut out: Vec<f64> = try_vec(m.len(), "the result")?;
    for (k, &(_, m2)) in m.iter().enumerate() {
        out.push(if dof > 0.0 {
            m2 / dof
        } else if m2.is_nan() || all_equal(a, rows, cols, axis, k) {
            f64::NAN
        } else {
            f64::INFINITY
        });
    }
    Ok(out)
}

/// True if every element of row/column `k` is equal (none: true). Only asked when the axis is no
/// longer than `ddof`.
fn all_equal<T: Element>(a: &[T], rows: usize, cols: usize, axis: Axis, k: usize) -> bool {
    match axis {
        Axis::Rows => {
            let r = &a[k * cols..(k + 1) * cols];
            r.iter().all(|x| Some(*x) == r.first().copied())
        }
        Axis::Cols => (0..rows).all(|i| a[i * cols + k] == a[k]),
    }
}

/// The extremes along `axis` (value, index along the axis, whether it is the first NaN).
fn extreme<T: Element, const MAX: bool, const INDEX: bool>(
    ctx: &Ctx<'_>,
    a: &[T],
    rows: usize,
    cols: usize,
    axis: Axis,
) -> Result<Vec<Extreme<T>>> {
    let (n, results) = match axis {
        Axis::Rows => (cols, rows),
        Axis::Cols => (rows, cols),
    };
    if n == 0 && results > 0 {
        return Err(Error::EmptyInput);
    }
    match axis {
        Axis::Rows => per_row(
            ctx,
            a,
            rows,
            cols,
            |r| simd::dispatch(super::ChunkExtreme::<T, MAX, INDEX> { a: r, offset: 0 }),
            super::extreme::<T, MAX, INDEX>,
        ),
        Axis::Cols => per_col(
            ctx,
            a,
            rows,
            cols,
            |a, cols, r, c| Ok(simd::dispatch(ColExtreme::<T, MAX, INDEX> { a, cols, r, c })),
            |p: &[Extreme<T>]| {
                let mut best = p[0];
                for &x in &p[1..] {
                    if !best.nan && (x.nan || better::<T, MAX>(x.value, best.value)) {
                        best = x;
                    }
                }
                best
            },
        ),
    }
}

/// The smallest elements along `axis` (NaN if any is NaN).
///
/// # Errors
///
/// [`Error::EmptyInput`] when the axis has length 0 and there are results to give.
pub fn min<T: Element>(ctx: &Ctx<'_>, a: &[T], rows: usize, cols: usize, axis: Axis) -> Result<Vec<T>> {
    Ok(extreme::<T, false, false>(ctx, a, rows, cols, axis)?
        .into_iter()
        .map(|e| e.value)
        .collect())
}

/// The largest elements along `axis` (NaN if any is NaN).
///
/// # Errors
///
/// As [`min`].
pub fn max<T: Element>(ctx: &Ctx<'_>, a: &[T], rows: usize, cols: usize, axis: Axis) -> Result<Vec<T>> {
    Ok(extreme::<T, true, false>(ctx, a, rows, cols, axis)?
        .into_iter()
        .map(|e| e.value)
        .collect())
}

/// The index along `axis` of the first smallest element (or of the first NaN).
///
/// # Errors
///
/// As [`min`].
pub fn argmin<T: Element>(
    ctx: &Ctx<'_>,
    a: &[T],
    rows: usize,
    cols: usize,
    axis: Axis,
) -> Result<Vec<usize>> {
    Ok(extreme::<T, false, true>(ctx, a, rows, cols, axis)?
        .into_iter()
        .map(|e| e.index)
        .collect())
}

/// The index along `axis` of the first largest element (or of the first NaN).
///
/// # Errors
///
/// As [`min`].
pub fn argmax<T: Element>(
    ctx: &Ctx<'_>,
    a: &[T],
    rows: usize,
    cols: usize,
    axis: Axis,
) -> Result<Vec<usize>> {
    Ok(extreme::<T, true, true>(ctx, a, rows, cols, axis)?
        .into_iter()
        .map(|e| e.index)
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Column blocks, as `simd::Kernel`s (compiled for AVX2 as well as the baseline).

struct ColSum<'a, T> {
    a: &'a [T],
    cols: usize,
    r: std::ops::Range<usize>,
    c: std::ops::Range<usize>,
}

impl<T: Element> simd::Kernel for ColSum<'_, T> {
    type Output = Vec<f64>;
    #[inline(always)]
    fn run(self) -> Vec<f64> {
        // Register tiles, as in `ColExtreme`: a group of `COL_LANES` columns is held in a local
        // array over a pass of `EXTREME_ROWS` rows, then stored back once (accumulating into the
        // memory-resident vector row by row ran at about two thirds of NumPy's speed). Each
        // column still adds its rows in order from 0.0, so the bits are those of a plain scan.
        let (c0, cols) = (self.c.start, self.cols);
        let w = self.c.len();
        let mut sums = vec![0.0f64; w];
        let mut s = self.r.start;
        while s < self.r.end {
            let e = self.r.end.min(s + EXTREME_ROWS);
            let mut g = 0;
            while g + COL_LANES <= w {
                let mut acc = [0.0f64; COL_LANES];
                acc.copy_from_slice(&sums[g..g + COL_LANES]);
                for i in s..e {
                    let xc = &self.a[i * cols + c0 + g..i * cols + c0 + g + COL_LANES];
                    for k in 0..COL_LANES {
                        acc[k] += xc[k].to_f64();
                    }
                }
                sums[g..g + COL_LANES].copy_from_slice(&acc);
                g += COL_LANES;
            }
            for i in s..e {
                let row = &self.a[i * cols + c0 + g..i * cols + self.c.end];
                for (t, x) in sums[g..].iter_mut().zip(row) {
                    *t += x.to_f64();
                }
            }
            s = e;
        }
        sums
    }
}

struct ColIntSum<'a, T> {
    a: &'a [T],
    cols: usize,
    r: std::ops::Range<usize>,
    c: std::ops::Range<usize>,
}

impl<T: Int> simd::Kernel for ColIntSum<'_, T> {
    type Output = Result<Vec<i128>>;
    #[inline(always)]
    fn run(self) -> Result<Vec<i128>> {
        // x = hi * 2^32 + lo, lo in [0, 2^32): over a block of fewer than 2^31 rows neither
        // accumulator can overflow, and both loops vectorise.
        let w = self.c.len();
        let mut hi: Vec<i64> = try_vec(w, "column accumulators")?;
        hi.resize(w, 0);
        let mut lo: Vec<u64> = try_vec(w, "column accumulators")?;
        lo.resize(w, 0);
        for i in self.r {
            let row = &self.a[i * self.cols + self.c.start..i * self.cols + self.c.end];
            for ((h, l), x) in hi.iter_mut().zip(lo.iter_mut()).zip(row) {
                let (xh, xl) = x.hi_lo();
                *h += xh;
                *l += xl;
            }
        }
        Ok(hi
            .iter()
            .zip(&lo)
            .map(|(&h, &l)| (i128::from(h) << 32) + i128::from(l))
            .collect())
    }
}

struct ColMoments<'a, 's, T> {
    a: &'a [T],
    cols: usize,
    r: std::ops::Range<usize>,
    c: std::ops::Range<usize>,
    shift: &'s [f64],
}

impl<T: Element> simd::Kernel for ColMoments<'_, '_, T> {
    type Output = Result<Vec<Moments>>;
    #[inline(always)]
    #[allow(clippy::cast_precision_loss)]
    fn run(self) -> Result<Vec<Moments>> {
        // Per column: the running (mean, m2) of the rows so far (structure of arrays, so that the
        // merge vectorises: every column has merged the same number of rows, so Chan's update
        // has the same coefficients for all of them), and the sub-block's two-pass moments.
        let w = self.c.len();
        let zeros = |what| -> Result<Vec<f64>> {
            let mut v = try_vec(w, what)?;
            v.resize(w, 0.0);
            Ok(v)
        };
        let (mut acc_mean, mut acc_m2) = (zeros("column moments")?, zeros("column moments")?);
        let (mut mean, mut m2) = (zeros("column moments")?, zeros("column moments")?);
        let mut done = 0usize;
        let mut start = self.r.start;
        while start < self.r.end {
            let end = self.r.end.min(start + MOMENT_ROWS);
            let nb = end - start;
            mean.fill(0.0);
            m2.fill(0.0);
            for i in start..end {
                let row = &self.a[i * self.cols + self.c.start..i * self.cols + self.c.end];
                for ((s, x), sh) in mean.iter_mut().zip(row).zip(self.shift) {
                    *s += x.to_f64() - sh;
                }
            }
            let inv = nb as f64;
            for s in &mut mean {
                *s /= inv;
            }
            for i in start..end {
                let row = &self.a[i * self.cols + self.c.start..i * self.cols + self.c.end];
                for (((q, x), sh), m) in m2.iter_mut().zip(row).zip(self.shift).zip(&mean) {
                    let d = (x.to_f64() - sh) - m;
                    *q += d * d;
                }
            }
            if done == 0 {
                acc_mean.copy_from_slice(&mean);
                acc_m2.copy_from_slice(&m2);
            } else {
                // Moments::merge, with its coefficients computed once.
                let (na, nbf, nn) = (done as f64, nb as f64, (done + nb) as f64);
                let (wb, wab) = (nbf / nn, na * nbf / nn);
                for (((am, aq), &m), &q) in acc_mean.iter_mut().zip(acc_m2.iter_mut()).zip(&mean).zip(&m2) {
                    let delta = m - *am;
                    *am += delta * wb;
                    *aq = *aq + q + delta * delta * wab;
                }
            }
            done += nb;
            start = end;
        }
        let mut out: Vec<Moments> = try_vec(w, "column moments")?;
        out.extend(acc_mean.iter().zip(&acc_m2).map(|(&mean, &m2)| Moments {
            n: done as u64,
            mean,
            m2,
        }));
        Ok(out)
    }
}

struct ColExtreme<'a, T, const MAX: bool, const INDEX: bool> {
    a: &'a [T],
    cols: usize,
    r: std::ops::Range<usize>,
    c: std::ops::Range<usize>,
}

impl<T: Element, const MAX: bool, const INDEX: bool> simd::Kernel for ColExtreme<'_, T, MAX, INDEX> {
    type Output = Vec<Extreme<T>>;
    #[inline(always)]
    fn run(self) -> Vec<Extreme<T>> {
        // Register tiles: a group of `COL_LANES` columns is held in local arrays over a sub-block
        // of `EXTREME_ROWS` rows, then stored back. (Updating `best` in memory row by row made
        // LLVM emit masked stores for the conditional update, microcoded and slow on Zen: the
        // column max ran at a third of the column sum's speed.) Each column still sees its rows
        // in order, so the results are those of a plain scan.
        let (c0, cols) = (self.c.start, self.cols);
        let w = self.c.len();
        if w == 0 || self.r.is_empty() {
            return Vec::new();
        }
        let first = &self.a[self.r.start * cols + c0..self.r.start * cols + self.c.end];
        let mut best: Vec<T> = first.to_vec();
        let mut index: Vec<usize> = vec![self.r.start; w];
        let mut s = self.r.start + 1;
        while s < self.r.end {
            let e = self.r.end.min(s + EXTREME_ROWS);
            let mut g = 0;
            while g + COL_LANES <= w {
                let mut acc: [T; COL_LANES] = [first[0]; COL_LANES];
                acc.copy_from_slice(&best[g..g + COL_LANES]);
                let mut idx: [usize; COL_LANES] = [0; COL_LANES];
                if INDEX {
                    idx.copy_from_slice(&index[g..g + COL_LANES]);
                }
                for i in s..e {
                    let xc = &self.a[i * cols + c0 + g..i * cols + c0 + g + COL_LANES];
                    for k in 0..COL_LANES {
                        let (x, b) = (xc[k], acc[k]);
                        if INDEX {
                            let take = !b.is_nan() & (x.is_nan() | better::<T, MAX>(x, b));
                            acc[k] = if take { x } else { b };
                            idx[k] = if take { i } else { idx[k] };
                        } else {
                            // The value only: a NaN anywhere ends as NaN (taking a later NaN
                            // changes nothing), so no test of `b` is needed.
                            acc[k] = if x.is_nan() | better::<T, MAX>(x, b) { x } else { b };
                        }
                    }
                }
                best[g..g + COL_LANES].copy_from_slice(&acc);
                if INDEX {
                    index[g..g + COL_LANES].copy_from_slice(&idx);
                }
                g += COL_LANES;
            }
            for i in s..e {
                let row = &self.a[i * cols + c0 + g..i * cols + self.c.end];
                for ((b, k), &x) in best[g..].iter_mut().zip(index[g..].iter_mut()).zip(row) {
                    let take = if INDEX {
                        !b.is_nan() & (x.is_nan() | better::<T, MAX>(x, *b))
                    } else {
                        x.is_nan() | better::<T, MAX>(x, *b)
                    };
                    *b = if take { x } else { *b };
                    *k = if take { i } else { *k };
                }
            }
            s = e;
        }
        best.into_iter()
            .zip(index)
            .map(|(value, index)| Extreme {
                value,
                index,
                nan: value.is_nan(),
            })
            .collect()
    }
}
