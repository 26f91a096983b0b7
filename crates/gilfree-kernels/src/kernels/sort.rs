//! `sort`: a sorted copy of a 1-D slice of float32, float64, int32 or int64, NaN last.
//!
//! # Algorithm: a parallel distribution sort, then an in-cache radix sort per bucket
//!
//! Every element has an unsigned integer key whose order is the sort order ([`SortKey::ukey`]):
//! the value with its sign bit flipped for integers; for floats the usual IEEE 754 bit trick
//! (negative values have every bit flipped, others their sign bit), with every NaN mapped to the
//! largest key (NaN last, as NumPy). Elements are moved whole (a NaN keeps its payload).
//!
//! 1. A bucket map ([`Cdf`]) fitted to a regular sample of 32 keys per bucket (positions that
//!    depend on the length only): a non-decreasing map from keys to about one bucket per
//!    [`BUCKET_TARGET`] elements (at most 4096), the sample's distribution per cell of leading
//!    key bits, linear inside a cell. Buckets of balanced size whatever the distribution (normal
//!    floats, whose keys crowd in a few exponents, as well as uniform integers), at the cost of
//!    a table lookup per key.
//! 2. A parallel pass over chunks (8 or more, of 4 Ki to [`CHUNK_LEN`] elements) maps every key
//!    to its bucket;
//!    the bucket of each element (a `u16`) and the counts per chunk are kept.
//! 3. A parallel, stable scatter into the output (each chunk writes at offsets computed from the
//!    counts in chunk order): the buckets in key order. The output and the bucket numbers are
//!    advised onto 2 MiB pages (fewer page faults and TLB misses), as NumPy does.
//! 4. Every bucket is sorted on its own, buckets in tasks on every worker (the largest first),
//!    with a scratch buffer (in the L2 cache for typical buckets): a least-significant-digit
//!    radix sort of the leading `log2(len) + 3` bits of `key - min` (two passes, typically),
//!    then an insertion sort that moves almost nothing; runs of equal leading bits (skewed
//!    keys) and buckets above [`LSD_MAX`] elements go through a most-significant-digit level
//!    first ([`seq_sort`]). A constant bucket costs one read.
//!
//! Ctrl-C is checked between chunks and between buckets (every task of `map_tasks`), and inside
//! a bucket's sort at every recursion step over more than 32 Ki elements.
//!
//! Sorts of at most [`LSD_MAX`] (64 Ki) elements on one thread skip steps 1-3: they are one
//! bucket, sorted as in step 4 (the partition makes two more passes over the data, which pay
//! only when threads share them). Above 64 Ki elements the partition is worth it even on one
//! thread: it costs less than the most-significant-digit level that the bucket sort would need.
//!
//! # Mid-size sorts on several threads: a merge sort
//!
//! From [`MERGE_MIN`] (2 Ki) to [`MERGE_MAX`] (128 Ki) elements on more than one thread,
//! [`merge_sort`]: each thread sorts one run as in step 4 (a run per thread, the team size
//! rounded up to a power of two), then rounds of stable merges of neighbouring runs, each round
//! cut into equal shares of the output found by binary search (the merge path), all on one
//! fan-out ([`Ctx::map_phases`]). One merge pass over the data costs less than the partition's
//! two, and the runs' sorts start at once. Below 2 Ki elements the sort is sequential.
//!
//! # Determinism
//!
//! The sorted order of keys is unique, and elements with equal keys are bit-identical (NaNs with
//! different payloads aside, which all sort last; their order is fixed by the input order, as
//! the scatter is stable and each bucket's sort depends on its content only): the output is the
//! same for every thread count. `-0.0` sorts before `0.0` (NumPy treats them as equal;
//! `np.array_equal` agrees).

use std::ops::Range;

use super::SendPtr;
use crate::engine::Ctx;
use crate::{try_vec, with_scratch, zeroed_vec, Result, Zeroable};

/// Elements per chunk of the parallel classification and scatter passes, at most (a sort of
/// fewer than 8 of them cuts its input into 8 chunks, of [`MIN_CHUNK_LEN`] at least).
pub const CHUNK_LEN: usize = 1 << 16;

/// The shortest chunk of the classification and scatter passes.
const MIN_CHUNK_LEN: usize = 1 << 12;

/// The fewest elements of the partition (its sample and its chunks are sized for at least
/// this many): a sort on one thread uses it above [`LSD_MAX`] elements, a parallel one above
/// [`MERGE_MAX`].
const PAR_MIN: usize = 1 << 15;

/// From this many elements, on more than one thread, the sort is a parallel merge sort
/// ([`merge_sort`]) up to [`MERGE_MAX`]: each thread sorts a run, then the merges are shared.
/// At 1 Ki elements (~13 µs) two threads were no faster; at 2 Ki, 1.37x.
const MERGE_MIN: usize = 1 << 11;

/// Above this many elements the parallel sort is the partition. Measured on 2 threads (runs of
/// `n / 2`): the merge sort beat it up to 128 Ki elements (1.6-2.2x against 1.0-1.7x); at 256
/// Ki its runs are longer than [`LSD_MAX`] and their sort slows down (0.7x).
const MERGE_MAX: usize = 2 * LSD_MAX;

/// The shortest run of the parallel merge sort.
const MERGE_RUN_MIN: usize = 1 << 10;

/// The fewest buckets of the parallel partition (32 Ki elements: 4 buckets of ~8 Ki). Measured
/// at 16-64 Ki elements against 8 and 16: larger buckets sort faster, and 4 tasks of unequal
/// size still keep two threads busy.
const MIN_BUCKETS: usize = 4;

/// About this many elements per bucket of the parallel partition for 8-byte elements (twice as
/// many for 4-byte ones): in the L2 cache with its scratch buffer.
pub const BUCKET_TARGET: usize = 1 << 14;

/// At most `2^CELL_BITS` cells in the bucket map ([`Cdf`]): its table (64 KiB) in the L2 cache.
const CELL_BITS: u32 = 14;

/// Sample keys per bucket.
const OVERSAMPLE: usize = 32;

/// The widest digit of the in-bucket radix sort, in bits.
const MAX_DIGIT: u32 = 13;

/// At or below this many elements, the in-bucket sort is a least-significant-digit radix sort.
const LSD_MAX: usize = 1 << 16;

/// The widest digit of the least-significant-digit radix sort, in bits.
const LSD_DIGIT: u32 = 11;

/// Elements of buckets per task of the bucket phase, at most (a sort of fewer than 16 of them
/// has tasks of a sixteenth of its elements, or of one bucket).
const GROUP: usize = 1 << 18;

/// At or below this many elements a bucket is sorted by insertion.
const SMALL: usize = 32;

/// An element type `sort` accepts, with an unsigned key whose order is the sort order.
pub trait SortKey: Zeroable + Send + Sync + 'static {
    /// The number of key bytes (4 or 8).
    const BYTES: u32;
    /// The order-preserving unsigned key (zero-extended to `u64` for 32-bit types).
    fn ukey(self) -> u64;
}

impl SortKey for i32 {
    const BYTES: u32 = 4;
    #[inline(always)]
    fn ukey(self) -> u64 {
        #[allow(clippy::cast_sign_loss)]
        u64::from((self as u32) ^ (1 << 31))
    }
}

impl SortKey for i64 {
    const BYTES: u32 = 8;
    #[inline(always)]
    fn ukey(self) -> u64 {
        #[allow(clippy::cast_sign_loss)]
        let k = (self as u64) ^ (1 << 63);
        k
    }
}

impl SortKey for f32 {
    const BYTES: u32 = 4;
    #[inline(always)]
    fn ukey(self) -> u64 {
        // Branch-free: all bits flipped for a negative value, the sign bit for the others; every
        // NaN (magnitude above infinity's) to all ones.
        let b = self.to_bits();
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_wrap)]
        let flip = ((b as i32 >> 31) as u32) | (1 << 31);
        let nan = 0u32.wrapping_sub(u32::from(b & !(1 << 31) > 0x7f80_0000));
        u64::from((b ^ flip) | nan)
    }
}

impl SortKey for f64 {
    const BYTES: u32 = 8;
    #[inline(always)]
    fn ukey(self) -> u64 {
        // As for f32.
        let b = self.to_bits();
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_wrap)]
        let flip = ((b as i64 >> 63) as u64) | (1 << 63);
        let nan = 0u64.wrapping_sub(u64::from(b & !(1 << 63) > 0x7ff0_0000_0000_0000));
        (b ^ flip) | nan
    }
}

/// A sorted copy of `a` in a new vector (fallibly allocated).
///
/// # Errors
///
/// [`crate::Error::OutOfMemory`] if the output or a scratch buffer cannot be allocated;
/// [`crate::Error::Cancelled`] on Ctrl-C.
pub fn sort<T: SortKey>(ctx: &Ctx<'_>, a: &[T]) -> Result<Vec<T>> {
    // Zeroed by the OS lazily: its pages are first touched by the parallel scatter.
    let mut out: Vec<T> = zeroed_vec(a.len(), "the sorted output")?;
    huge_pages(&mut out);
    sort_into(ctx, a, &mut out)?;
    Ok(out)
}

/// Writes the sorted elements of `a` into `out` (same length; must not overlap `a`).
///
/// # Errors
///
/// As [`sort`] (the scratch buffers are the allocations that can fail).
///
/// # Panics
///
/// If `out.len() != a.len()`.
pub fn sort_into<T: SortKey>(ctx: &Ctx<'_>, a: &[T], out: &mut [T]) -> Result<()> {
    let n = a.len();
    assert_eq!(out.len(), n, "sort_into: output length differs from input length");
    ctx.check()?;
    // On several threads, the merge sort for mid sizes (see the module notes). On one thread,
    // the sequential sort while it is one LSD radix sort (up to LSD_MAX elements): 12-13 ns an
    // element here, where the partition's two extra passes cost 18. Above, its
    // most-significant-digit level costs more than the partition (27 ns an element).
    let team = ctx.team_size();
    if team > 1 && (MERGE_MIN..=MERGE_MAX).contains(&n) {
        return merge_sort(ctx, a, out, team);
    }
    if n < PAR_MIN || (n <= LSD_MAX && team == 1) {
        out.copy_from_slice(a);
        if n > 1 {
            // The scratch's content is irrelevant (the sort writes it before reading it).
            with_scratch(n, "the sort's scratch buffer", |scratch| {
                seq_sort(ctx, out, scratch)
            })??;
        }
        return ctx.check();
    }
    par_sort(ctx, a, out)
}

/// Asks Linux to back the untouched pages of a large fresh buffer with 2 MiB pages, as NumPy
/// does for its large arrays: first-touching the memory then costs far fewer page faults, and
/// the scatter far fewer TLB misses. Advice only (nothing changes if it is refused).
fn huge_pages<T>(v: &mut [T]) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = std::mem::size_of_val(v);
        if bytes < 4 * HUGE {
            return;
        }
        let start = v.as_mut_ptr() as usize;
        let first = start.div_ceil(HUGE) * HUGE;
        let end = (start + bytes) / HUGE * HUGE;
        if end > first {
            // SAFETY: whole pages inside the live buffer; MADV_HUGEPAGE changes how pages are
            // backed, never their contents.
            unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// The bucket of every key: a non-decreasing map from keys to bucket numbers, fitted to the
/// distribution of a regular sample so that buckets come out of balanced size.
///
/// The keys are clamped to the sample's range `lo..=hi`; `key - lo` is cut into `2^c` cells by
/// its leading bits (`c` at most [`CELL_BITS`]). Cell `i` owns buckets `start[i]..start[i + 1]`
/// (its share of the sample, so of the data), spread linearly over the next bits of the key:
/// one table lookup, a multiply and a few shifts per key.
struct Cdf {
    lo: u64,
    hi: u64,
    /// `key - lo >> shift` is the cell.
    shift: u32,
    /// Bits of the position inside a cell.
    sub: u32,
    /// The first bucket of each cell, and the number of buckets at the end.
    start: Vec<u32>,
}

impl Cdf {
    /// The map for `a` (at least [`PAR_MIN`] elements): about one bucket per
    /// [`BUCKET_TARGET`] elements (times 8 bytes over the element size), at most 4096.
    fn of<T: SortKey>(a: &[T]) -> Result<Self> {
        let n = a.len();
        let target = BUCKET_TARGET * 8 / size_of::<T>();
        let buckets = (n / target).clamp(MIN_BUCKETS, 1 << 12);
        let m = (buckets * OVERSAMPLE).min(n);
        let stride = n / m;
        let mut sample: Vec<u64> = try_vec(m, "the sort's sample")?;
        sample.extend((0..m).map(|i| a[i * stride + stride / 2].ukey()));
        sample.sort_unstable();
        let (lo, hi) = (sample[0], sample[m - 1]);
        let width = u64::BITS - (hi - lo).leading_zeros();
        let cell_bits = width.min(CELL_BITS);
        let shift = width - cell_bits;
        let sub = shift.min(16);
        let cells = 1usize << cell_bits;
        let mut start: Vec<u32> = zeroed_vec(cells + 1, "the sort's bucket map")?;
        for &k in &sample {
            #[allow(clippy::cast_possible_truncation)]
            let c = ((k - lo) >> shift) as usize;
            start[c + 1] += 1;
        }
        let mut acc = 0usize;
        for x in start.iter_mut() {
            acc += *x as usize;
            // The buckets before this cell: its share of the sample so far.
            #[allow(clippy::cast_possible_truncation)]
            {
                *x = (acc * buckets / m) as u32;
            }
        }
        Ok(Cdf {
            lo,
            hi,
            shift,
            sub,
            start,
        })
    }

    /// The number of buckets.
    fn buckets(&self) -> usize {
        self.start.last().map_or(1, |&b| b as usize)
    }

    /// The bucket of key `k` (non-decreasing in `k`: the clamp, the cell and the position in
    /// the cell all are, and a cell's buckets end where the next cell's begin).
    #[inline(always)]
    fn bucket(&self, k: u64) -> usize {
        let x = k.clamp(self.lo, self.hi) - self.lo;
        #[allow(clippy::cast_possible_truncation)]
        let c = (x >> self.shift) as usize;
        // SAFETY: `x <= hi - lo < 2^width`, so `c < 2^cell_bits = start.len() - 1`.
        let (first, end) = unsafe { (*self.start.get_unchecked(c), *self.start.get_unchecked(c + 1)) };
        let pos = (x >> (self.shift - self.sub)) & ((1 << self.sub) - 1);
        #[allow(clippy::cast_possible_truncation)]
        let within = ((pos * u64::from(end - first)) >> self.sub) as u32;
        // `within < end - first` when that is positive (`pos < 2^sub`), else 0: a bucket of
        // this cell, or the next cell's first bucket for a cell that owns none.
        (first + within) as usize
    }
}

/// The chunk length of the classification and scatter passes of a sort of `n` elements: 8
/// chunks or more, of [`MIN_CHUNK_LEN`] to [`CHUNK_LEN`] elements (a power of two). The output
/// does not depend on it (the scatter is stable, and the sorted order unique).
fn chunk_len(n: usize) -> usize {
    (n / 8).next_power_of_two().clamp(MIN_CHUNK_LEN, CHUNK_LEN)
}

/// Sorts `a` (at least [`PAR_MIN`] elements) into `out` (same length, distinct): classify,
/// scatter, then the buckets as tasks.
fn par_sort<T: SortKey>(ctx: &Ctx<'_>, a: &[T], out: &mut [T]) -> Result<()> {
    let n = a.len();
    let map = Cdf::of(a)?;
    let nb = map.buckets();
    // 1. The bucket of every element, and the counts per chunk.
    let mut ids: Vec<u16> = zeroed_vec(n, "the sort's bucket numbers")?;
    huge_pages(&mut ids);
    let idp = SendPtr(ids.as_mut_ptr());
    let chunk_len = chunk_len(n);
    let counts = ctx.map_chunks(n, chunk_len, 1, |r| {
        let mut h: Vec<u32> = vec![0; nb];
        // SAFETY: each chunk writes its own range of `ids`.
        let dst = unsafe { idp.slice(r.clone()) };
        for (x, id) in a[r].iter().zip(dst) {
            let b = map.bucket(x.ukey());
            #[allow(clippy::cast_possible_truncation)]
            {
                *id = b as u16;
            }
            h[b] += 1;
        }
        h
    })?;
    // 2. Stable scatter: chunk `c` writes its bucket-`b` elements from `starts[b] + (bucket-b
    // elements of the chunks before c)`.
    let mut starts: Vec<usize> = try_vec(nb + 1, "the sort's bucket offsets")?;
    starts.push(0);
    let mut total = 0;
    for b in 0..nb {
        total += counts.iter().map(|c| c[b] as usize).sum::<usize>();
        starts.push(total);
    }
    let mut offsets: Vec<Vec<usize>> = try_vec(counts.len(), "the sort's bucket offsets")?;
    let mut run: Vec<usize> = starts[..nb].to_vec();
    for c in &counts {
        offsets.push(run.clone());
        for (x, y) in run.iter_mut().zip(c) {
            *x += *y as usize;
        }
    }
    drop(counts);
    let outp = SendPtr(out.as_mut_ptr());
    ctx.map_chunks(n, chunk_len, 1, |r| {
        let mut o = offsets[r.start / chunk_len].clone();
        for (x, &b) in a[r.clone()].iter().zip(&ids[r]) {
            let b = usize::from(b);
            // SAFETY: chunk-and-bucket ranges are disjoint and inside `out`: `o[b]` stays below
            // `starts[b + 1] <= n` (the counts add up).
            unsafe { outp.at(o[b]).write(*x) };
            o[b] += 1;
        }
    })?;
    drop(ids);
    // 3. The buckets, as tasks.
    let mut todo: Vec<Range<usize>> = (0..nb)
        .map(|b| starts[b]..starts[b + 1])
        .filter(|r| r.len() > 1)
        .collect();
    // The largest first, so that workers finish together, in groups of about `GROUP` elements
    // (one task and one scratch buffer each: fewer allocations and page faults). Each bucket's
    // result depends on its content only: the order and the grouping change only the balance.
    todo.sort_by_key(|r| (std::cmp::Reverse(r.len()), r.start));
    let mut groups: Vec<Range<usize>> = try_vec(todo.len(), "the sort's task list")?;
    let group_len = (n / 16).min(GROUP);
    let mut first = 0;
    let mut size = 0;
    for (i, r) in todo.iter().enumerate() {
        size += r.len();
        if size >= group_len || i + 1 == todo.len() {
            groups.push(first..i + 1);
            first = i + 1;
            size = 0;
        }
    }
    let done = ctx.map_tasks(groups.len(), |g| {
        let group = &todo[groups[g].clone()];
        // The group's largest bucket is its first, so its length is the scratch's (kept by the
        // worker between calls). Its content is irrelevant: the sort writes it before reading.
        with_scratch(group[0].len(), "the sort's scratch buffer", |scratch| {
            for r in group {
                // SAFETY: buckets are disjoint ranges of `out`, in one task each.
                let v = unsafe { outp.slice(r.clone()) };
                let len = v.len();
                seq_sort(ctx, v, &mut scratch[..len])?;
            }
            Ok(())
        })?
    })?;
    done.into_iter().collect()
}

/// Sorts `a` into `out` (same length, distinct) on `team` threads: `runs` runs (`team` rounded
/// up to a power of two, at most one per [`MERGE_RUN_MIN`] elements) sorted one per task, then
/// `log2(runs)` rounds of stable merges of neighbouring runs, every round cut into `runs` tasks
/// of equal output (each task finds where its share starts in the two runs by binary search:
/// the merge path). All on one fan-out ([`Ctx::map_phases`]); the buffers alternate so that
/// the last round writes `out`.
fn merge_sort<T: SortKey>(ctx: &Ctx<'_>, a: &[T], out: &mut [T], team: usize) -> Result<()> {
    let n = a.len();
    let most = (n / MERGE_RUN_MIN).max(2);
    let runs = team.next_power_of_two().min(1 << most.ilog2());
    with_scratch(n, "the sort's scratch buffer", |scratch| {
        merge_rounds(ctx, a, out, scratch, runs)
    })?
}

/// [`merge_sort`]'s rounds, with `scratch` (`n` elements, any content) as the second buffer.
fn merge_rounds<T: SortKey>(
    ctx: &Ctx<'_>,
    a: &[T],
    out: &mut [T],
    scratch: &mut [T],
    runs: usize,
) -> Result<()> {
    let n = a.len();
    let rounds = runs.trailing_zeros() as usize;
    // Round `r` reads `bufs[(r - 1) % 2]` and writes `bufs[r % 2]`; the runs are sorted in
    // `bufs[0]`, and the last round writes `out`.
    let (outp, scratchp) = (SendPtr(out.as_mut_ptr()), SendPtr(scratch.as_mut_ptr()));
    let bufs = if rounds % 2 == 1 {
        [scratchp, outp]
    } else {
        [outp, scratchp]
    };
    let run = |i: usize| i * n / runs;
    let phases = [runs; 1 + usize::BITS as usize];
    let done = ctx.map_phases(&phases[..=rounds], |round, t| -> Result<()> {
        if round == 0 {
            let r = run(t)..run(t + 1);
            // SAFETY: run `t` is this task's own range of both buffers (each `n` long).
            let (v, s) = unsafe { (bufs[0].slice(r.clone()), bufs[1].slice(r.clone())) };
            v.copy_from_slice(&a[r]);
            return seq_sort(ctx, v, s);
        }
        // Task `t` writes its share of the merge of the two halves of group `t >> round` (of
        // `2^round` runs), the `piece`-th of `2^round`.
        let group = 1usize << round;
        let first = (t >> round) << round;
        let piece = t & (group - 1);
        let (lo, mid, hi) = (run(first), run(first + group / 2), run(first + group));
        let (k0, k1) = (piece * (hi - lo) / group, (piece + 1) * (hi - lo) / group);
        let (src, dst) = (bufs[(round - 1) % 2], bufs[round % 2]);
        // SAFETY: the previous round wrote `src` and has returned (`map_phases`); this round
        // only reads it. The output shares are disjoint ranges of `dst`, one per task.
        let (x, y, o) = unsafe {
            (
                std::slice::from_raw_parts(src.at(lo), mid - lo),
                std::slice::from_raw_parts(src.at(mid), hi - mid),
                dst.slice(lo + k0..lo + k1),
            )
        };
        // This share is exactly the merge of `x[i0..i1]` and `y[k0 - i0..k1 - i1]`.
        let (i0, i1) = (merge_split(x, y, k0), merge_split(x, y, k1));
        // Sorted runs give `i0 <= i1` and `k0 - i0 <= k1 - i1`. Runs left unsorted by a sort
        // cut short by Ctrl-C may not: the call is cancelled then, and fails here.
        ctx.check()?;
        if i0 > i1 || k0 - i0 > k1 - i1 {
            return Err(crate::Error::Panic(
                "sort: a merge of runs that are not sorted".into(),
            ));
        }
        merge(&x[i0..i1], &y[k0 - i0..k1 - i1], o);
        Ok(())
    })?;
    done.into_iter().collect()
}

/// How many of the first `k` elements of the stable merge of the sorted `x` and `y` (an element
/// of `x` first among equal keys) come from `x`. Whatever their content, the result `i` has
/// `i <= x.len()` and `k - i <= y.len()` (for `k <= x.len() + y.len()`).
fn merge_split<T: SortKey>(x: &[T], y: &[T], k: usize) -> usize {
    let (mut lo, mut hi) = (k.saturating_sub(y.len()), k.min(x.len()));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // `x[mid]` comes before `y[k - mid - 1]`: more than `mid` of the first `k` are from `x`.
        if x[mid].ukey() <= y[k - mid - 1].ukey() {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Writes into `out` (`x.len() + y.len()` long) the stable merge of `x` and `y` (an element of
/// `x` first among equal keys): the first half from the front and the second half from the
/// back, in one loop (two independent chains of loads and compares: each step of a merge waits
/// for the compare of the step before). Whatever the content of `x` and `y`, every read and
/// write stays inside them.
fn merge<T: SortKey>(x: &[T], y: &[T], out: &mut [T]) {
    let (xl, yl, n) = (x.len(), y.len(), out.len());
    debug_assert_eq!(xl + yl, n);
    if xl == 0 || yl == 0 {
        out.copy_from_slice(if xl == 0 { y } else { x });
        return;
    }
    let half = n / 2;
    // Front: the next of each; back: one past the last of each still to place.
    let (mut i, mut j) = (0usize, 0usize);
    let (mut ie, mut je) = (xl, yl);
    let front = |i: usize, j: usize| {
        let (p, q) = (x[i.min(xl - 1)], y[j.min(yl - 1)]);
        let from_x = (i < xl) & ((j >= yl) | (p.ukey() <= q.ukey()));
        (from_x, std::hint::select_unpredictable(from_x, p, q))
    };
    let back = |ie: usize, je: usize| {
        let (p, q) = (x[ie.max(1) - 1], y[je.max(1) - 1]);
        let from_y = (je > 0) & ((ie == 0) | (q.ukey() >= p.ukey()));
        (from_y, std::hint::select_unpredictable(from_y, q, p))
    };
    let both = half.min(n - half);
    let mut o = 0;
    // Blocks of steps in which neither end can run out of either input: no bounds to check,
    // no branch but the loop's.
    loop {
        let steps = (xl - i).min(yl - j).min(ie).min(je).min(both - o);
        if steps == 0 {
            break;
        }
        for _ in 0..steps {
            // The element is chosen by its address (a conditional move of an integer register),
            // then read once (a volatile read: else LLVM reads both candidates and selects the
            // value, which for floats is a branch, mispredicted half the time).
            // SAFETY: each step moves each end by one element of `x` or `y`, and `steps` is at
            // most what is left of each at each end: `i < xl`, `j < yl`, `ie, je >= 1` here.
            let (p, q) = unsafe { (x.as_ptr().add(i), y.as_ptr().add(j)) };
            // SAFETY: as above.
            let from_x = unsafe { (*p).ukey() <= (*q).ukey() };
            // SAFETY: as above.
            out[o] = unsafe { std::ptr::read_volatile(std::hint::select_unpredictable(from_x, p, q)) };
            i += usize::from(from_x);
            j += usize::from(!from_x);
            // SAFETY: as above.
            let (p, q) = unsafe { (x.as_ptr().add(ie - 1), y.as_ptr().add(je - 1)) };
            // SAFETY: as above.
            let from_y = unsafe { (*q).ukey() >= (*p).ukey() };
            // SAFETY: as above.
            out[n - 1 - o] =
                unsafe { std::ptr::read_volatile(std::hint::select_unpredictable(from_y, q, p)) };
            je -= usize::from(from_y);
            ie -= usize::from(!from_y);
            o += 1;
        }
    }
    // An input ran out at one end (or the halves are done): the rest step by step.
    for slot in &mut out[o..half] {
        let (from_x, v) = front(i, j);
        *slot = v;
        i += usize::from(from_x);
        j += usize::from(!from_x);
    }
    for o in o..n - half {
        let (from_y, w) = back(ie, je);
        out[n - 1 - o] = w;
        je -= usize::from(from_y);
        ie -= usize::from(!from_y & (ie > 0));
    }
}

/// Sorts `v` in place by insertion (short slices).
fn insertion_sort<T: SortKey>(v: &mut [T]) {
    for i in 1..v.len() {
        let x = v[i];
        let k = x.ukey();
        let mut j = i;
        while j > 0 && v[j - 1].ukey() > k {
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = x;
    }
}

/// [`insertion_sort`], giving up (and returning `false`) when an element has moved `limit`
/// places: `v` is then still a permutation, and an element only ever moved past larger ones.
fn insertion_sort_bounded<T: SortKey>(v: &mut [T], limit: usize) -> bool {
    for i in 1..v.len() {
        let x = v[i];
        let k = x.ukey();
        let mut j = i;
        while j > 0 && v[j - 1].ukey() > k {
            v[j] = v[j - 1];
            j -= 1;
            if i - j == limit {
                v[j] = x;
                return false;
            }
        }
        v[j] = x;
    }
    true
}

/// Sorts `v`, with `s` (the same length, any content) as scratch: insertion sort at or below
/// [`SMALL`] elements, nothing for equal keys, [`lsd_sort`] up to [`LSD_MAX`] elements; above, a
/// most-significant-digit level on `key - min` (digits of up to [`MAX_DIGIT`] bits, sized for
/// about 2 elements per sub-bucket), recursing into the sub-buckets, then an insertion sort.
fn seq_sort<T: SortKey>(ctx: &Ctx<'_>, v: &mut [T], s: &mut [T]) -> Result<()> {
    let n = v.len();
    if n <= SMALL {
        insertion_sort(v);
        return Ok(());
    }
    if n > 1 << 15 {
        ctx.check()?;
        if u32::try_from(n).is_err() {
            // Beyond the `u32` counts (a bucket of 4 Gi elements): a comparison sort.
            v.sort_unstable_by_key(|x| x.ukey());
            return Ok(());
        }
    }
    let (lo, hi) = v.iter().fold((u64::MAX, 0u64), |(lo, hi), x| {
        let k = x.ukey();
        (lo.min(k), hi.max(k))
    });
    let range = hi - lo;
    if range == 0 {
        return Ok(());
    }
    let width = u64::BITS - range.leading_zeros();
    if n <= LSD_MAX {
        return lsd_sort(ctx, v, s, lo, width);
    }
    let want = (n / 2).max(2).ilog2();
    let bits = want.clamp(1, MAX_DIGIT).min(width);
    let shift = width - bits;
    #[allow(clippy::cast_possible_truncation)]
    let digit = |x: &T| ((x.ukey() - lo) >> shift) as usize;
    let mut counts = [0u32; 1 << MAX_DIGIT];
    let counts = &mut counts[..1 << bits];
    for x in v.iter() {
        counts[digit(x)] += 1;
    }
    let mut acc = 0u32;
    for c in counts.iter_mut() {
        let here = *c;
        *c = acc;
        acc += here;
    }
    // `counts[d]` is now the start of sub-bucket `d`; after the scatter, its end.
    for x in v.iter() {
        let d = digit(x);
        s[counts[d] as usize] = *x;
        counts[d] += 1;
    }
    v.copy_from_slice(s);
    // Sub-buckets above `SMALL` elements are sorted by recursion; then one insertion sort over
    // the whole slice puts the small ones in order (each element moves within its own
    // sub-bucket only: a few steps, no branchy per-sub-bucket work).
    let mut start = 0;
    for &end in counts.iter() {
        let end = end as usize;
        if end - start > SMALL {
            seq_sort(ctx, &mut v[start..end], &mut s[start..end])?;
        }
        start = end;
    }
    insertion_sort(v);
    Ok(())
}

/// Elements of the sample [`lsd_top_bits`] reads.
const SAMPLE: usize = 64;

/// Neighbouring gaps of that sample measured together.
const WINDOW: usize = 8;

/// How many top bits of `key - lo` (keys of `v` in `lo..lo + 2^width`) [`lsd_sort`] sorts on:
/// enough to leave almost every element alone in its group of equal top bits.
///
/// `log2(n) + 3` bits do that for keys spread evenly over their range, but float keys are not:
/// the keys of `rng.random()` crowd into the top exponent (half the values in 1/18 of the key
/// range), those of `rng.normal()` into a few exponents on either side of zero (most values in
/// 1/170 of it), and runs of equal top bits then cost an insertion sort with many moves or a
/// recursion each (a 32 Ki normal sort took 2.4x as long as a uniform one). So the bits come
/// from the data: a regular sample of [`SAMPLE`] keys, sorted; its neighbours' gaps measure the
/// density of keys, and the densest run of [`WINDOW`] of them sets the bits that leave about
/// a quarter of an element per group there (up to one, if that saves a pass). Never fewer
/// than `log2(n) + 3`.
fn lsd_top_bits<T: SortKey>(v: &[T], lo: u64, width: u32) -> u32 {
    let n = v.len();
    let base = width.min(n.ilog2() + 3);
    if n < 4 * SAMPLE || base == width {
        return base;
    }
    let stride = n / SAMPLE;
    let mut keys = [0u64; SAMPLE];
    for (i, k) in keys.iter_mut().enumerate() {
        *k = v[i * stride + stride / 2].ukey() - lo;
    }
    keys.sort_unstable();
    // Equal keys, which no number of bits splits (runs of them are cheap: see `lsd_sort`), say
    // nothing of the density of the others: counted once.
    let mut distinct = 1;
    for i in 1..SAMPLE {
        if keys[i] != keys[distinct - 1] {
            keys[distinct] = keys[i];
            distinct += 1;
        }
    }
    if distinct <= 2 * WINDOW {
        return base;
    }
    // The densest run of WINDOW gaps (one gap alone is too noisy: an exponential variable).
    let span = keys[..distinct]
        .windows(WINDOW + 1)
        .map(|w| w[WINDOW] - w[0])
        .min()
        .unwrap_or(0);
    let q = span / WINDOW as u64;
    let per_quarter = u128::from(q) * SAMPLE as u128 / (4 * n as u128);
    let low = per_quarter.checked_ilog2().unwrap_or(0);
    let top = width.saturating_sub(low);
    // A pass costs far more than an element or so per group: up to 2 bits fewer (one element
    // per group) when that saves a pass. (Without this, which side of 22 bits a sample fell on
    // made a 64 Ki uniform sort take 715 or 1,050 µs, depending on the seed.)
    let passes = top.saturating_sub(2).div_ceil(LSD_DIGIT).max(1);
    top.min(passes * LSD_DIGIT).clamp(base, width)
}

/// Sorts `v` (at most [`LSD_MAX`] elements, more than [`SMALL`], keys in `lo..lo + 2^width`)
/// with `s` (the same length) as scratch.
///
/// A least-significant-digit radix sort on the top bits of `key - lo` only: as many as leave
/// almost every element alone in its group of equal top bits ([`lsd_top_bits`]), in passes of
/// at most [`LSD_DIGIT`] bits (the counts of every pass from one read; no data-dependent
/// branch). Then runs of equal top bits longer than [`SMALL`] (skewed keys) are
/// sorted by [`seq_sort`] (their keys are narrower), and one insertion sort over the whole
/// slice orders the few short runs left (nearly no element moves: its branches are predicted).
fn lsd_sort<T: SortKey>(ctx: &Ctx<'_>, v: &mut [T], s: &mut [T], lo: u64, width: u32) -> Result<()> {
    let n = v.len();
    let top = lsd_top_bits(v, lo, width);
    let low = width - top;
    let passes = top.div_ceil(LSD_DIGIT);
    let bits = top.div_ceil(passes);
    let mask = (1u64 << bits) - 1;
    let size = 1usize << bits;
    let mut counts = [0u32; (1 << LSD_DIGIT) * (u64::BITS.div_ceil(LSD_DIGIT) as usize)];
    let counts = &mut counts[..size * passes as usize];
    if passes == 2 {
        // The usual case, unrolled: two independent counts per key.
        let (c0, c1) = counts.split_at_mut(size);
        #[allow(clippy::cast_possible_truncation)]
        for x in v.iter() {
            let k = (x.ukey() - lo) >> low;
            c0[(k & mask) as usize] += 1;
            c1[((k >> bits) & mask) as usize] += 1;
        }
    } else {
        #[allow(clippy::cast_possible_truncation)]
        for x in v.iter() {
            let k = (x.ukey() - lo) >> low;
            for p in 0..passes {
                counts[p as usize * size + ((k >> (p * bits)) & mask) as usize] += 1;
            }
        }
    }
    let (mut src, mut dst) = (&mut *v, &mut *s);
    let mut swapped = false;
    for p in 0..passes {
        let row = &mut counts[p as usize * size..(p as usize + 1) * size];
        let mut acc = 0u32;
        for c in row.iter_mut() {
            let here = *c;
            *c = acc;
            acc += here;
        }
        let shift = low + p * bits;
        #[allow(clippy::cast_possible_truncation)]
        for x in src.iter() {
            let d = ((x.ukey() - lo) >> shift & mask) as usize;
            dst[row[d] as usize] = *x;
            row[d] += 1;
        }
        std::mem::swap(&mut src, &mut dst);
        swapped = !swapped;
    }
    if swapped {
        // The result is in the scratch buffer (`src`); `dst` is `v`.
        dst.copy_from_slice(src);
    }
    if low == 0 {
        return Ok(());
    }
    if insertion_sort_bounded(v, SMALL) {
        return Ok(());
    }
    // An element had to move far: runs of equal top bits longer than `SMALL` (skewed keys)
    // are sorted on their own, then the insertion sort ends (the runs are still in order: an
    // insertion only moves an element within its run).
    let group = |x: &T| (x.ukey() - lo) >> low;
    let mut start = 0;
    let mut g = group(&v[0]);
    for i in 1..=n {
        let next = if i < n { group(&v[i]) } else { !g };
        if next != g {
            if i - start > SMALL {
                seq_sort(ctx, &mut v[start..i], &mut s[start..i])?;
            }
            start = i;
            g = next;
        }
    }
    insertion_sort(v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Threads;
    use proptest::prelude::*;

    fn two() -> Threads {
        Threads::AtMost(std::num::NonZeroUsize::new(2).unwrap())
    }

    fn reference_f64(a: &[f64]) -> Vec<f64> {
        let mut v = a.to_vec();
        v.sort_by(|x, y| match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => x.total_cmp(y),
        });
        v
    }

    fn same_f64(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits())
    }

    fn xorshift(n: usize, seed: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect()
    }

    #[test]
    fn keys_order() {
        let v = [
            f64::NEG_INFINITY,
            -1.0,
            -0.0,
            0.0,
            1e-300,
            1.0,
            f64::INFINITY,
            f64::NAN,
        ];
        for w in v.windows(2) {
            assert!(w[0].ukey() < w[1].ukey(), "{w:?}");
        }
        assert_eq!((-f64::NAN).ukey(), u64::MAX);
        let v = [
            f32::NEG_INFINITY,
            -1.0,
            -0.5,
            -0.0,
            0.0,
            1.0,
            f32::INFINITY,
            f32::NAN,
        ];
        for w in v.windows(2) {
            assert!(w[0].ukey() < w[1].ukey(), "{w:?}");
        }
        assert!(i64::MIN.ukey() < (-1i64).ukey() && (-1i64).ukey() < 0i64.ukey());
        assert!(0i64.ukey() < i64::MAX.ukey());
        assert!(i32::MIN.ukey() < (-1i32).ukey() && (-1i32).ukey() < 0i32.ukey());
    }

    #[test]
    fn large_any_threads() {
        // Short parallel sorts (chunks and tasks below their largest size; sequential on one
        // thread) and long ones (chunks of CHUNK_LEN, several buckets per task).
        for n in [PAR_MIN + 12345, 5 * (1 << 17) + 12345] {
            large_any_threads_at(n);
        }
        assert_eq!(chunk_len(PAR_MIN), MIN_CHUNK_LEN);
        assert_eq!(chunk_len(PAR_MIN + 12345), 8192);
        assert_eq!(chunk_len(5 << 17), CHUNK_LEN);
    }

    fn large_any_threads_at(n: usize) {
        // Parallel passes, skewed buckets (a narrow range: recursion), duplicates and NaNs.
        let raw = xorshift(n, 0x9e37_79b9_7f4a_7c15);
        let a: Vec<f64> = raw
            .iter()
            .enumerate()
            .map(|(i, x)| match i % 97 {
                0 => f64::NAN,
                1 => -0.0,
                2 => f64::NEG_INFINITY,
                3 => f64::from_bits(*x),
                _ => ((x % 20_000) as f64) - 10_000.0,
            })
            .collect();
        let want = reference_f64(&a);
        for threads in [Threads::Caller, two(), Threads::Pool] {
            let got = sort(&Ctx::new(threads, None), &a).unwrap();
            assert!(same_f64(&got, &want));
        }
        let wide: Vec<i64> = raw.iter().map(|x| *x as i64).collect();
        let narrow: Vec<i64> = raw.iter().map(|x| (x % 1000) as i64 - 500).collect();
        for v in [wide, narrow] {
            let mut want = v.clone();
            want.sort_unstable();
            assert_eq!(sort(&Ctx::new(Threads::Pool, None), &v).unwrap(), want);
            assert_eq!(sort(&Ctx::new(Threads::Caller, None), &v).unwrap(), want);
            let small: Vec<i32> = v.iter().map(|x| *x as i32).collect();
            let mut want = small.clone();
            want.sort_unstable();
            assert_eq!(sort(&Ctx::new(two(), None), &small).unwrap(), want);
            let f: Vec<f32> = v.iter().map(|x| *x as f32).collect();
            let got = sort(&Ctx::new(Threads::Pool, None), &f).unwrap();
            assert!(got.windows(2).all(|w| w[0] <= w[1]));
        }
        let same = vec![7i64; n];
        assert_eq!(sort(&Ctx::new(Threads::Pool, None), &same).unwrap(), same);
    }

    #[test]
    fn merge_sort_any_team_and_runs() {
        // Every length class of the merge sort (odd lengths, runs of unequal length), every
        // number of rounds (teams of 2 to 8: 1 to 3 rounds, the last one into `out` either
        // way), and the merge split at every output position.
        for n in [MERGE_MIN, MERGE_MIN + 1, 3 * MERGE_MIN + 7, MERGE_MAX] {
            let raw = xorshift(n, n as u64 + 11);
            let a: Vec<f64> = raw
                .iter()
                .enumerate()
                .map(|(i, x)| match i % 31 {
                    0 => f64::from_bits(0x7ff8_0000_0000_0000 | (i as u64)), // NaN, own payload
                    1 => -0.0,
                    2 => 0.0,
                    _ => ((x % 500) as f64) - 250.0,
                })
                .collect();
            let want = reference_f64(&a);
            for team in [2, 3, 4, 8] {
                let mut out = vec![0.0; n];
                merge_sort(&Ctx::new(Threads::Pool, None), &a, &mut out, team).unwrap();
                // Bit for bit: NaN payloads in input order (the merge is stable), -0.0 first.
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&out), bits(&want), "n={n} team={team}");
            }
            let ints: Vec<i32> = raw.iter().map(|x| *x as i32).collect();
            let mut want = ints.clone();
            want.sort_unstable();
            for threads in [Threads::Caller, two(), Threads::Pool] {
                assert_eq!(sort(&Ctx::new(threads, None), &ints).unwrap(), want);
            }
        }
        let x = [1i64, 3, 3, 5, 9];
        let y = [2i64, 3, 4, 10];
        let mut merged: Vec<(i64, bool)> = x
            .iter()
            .map(|&v| (v, true))
            .chain(y.iter().map(|&v| (v, false)))
            .collect();
        merged.sort_by_key(|&(v, from_x)| (v, !from_x));
        for k0 in 0..=x.len() + y.len() {
            let i0 = merge_split(&x, &y, k0);
            assert_eq!(i0, merged[..k0].iter().filter(|p| p.1).count(), "k={k0}");
            for k1 in k0..=x.len() + y.len() {
                let i1 = merge_split(&x, &y, k1);
                let mut out = vec![0; k1 - k0];
                merge(&x[i0..i1], &y[k0 - i0..k1 - i1], &mut out);
                assert_eq!(out, merged[k0..k1].iter().map(|p| p.0).collect::<Vec<_>>());
            }
        }
        // Unsorted runs (what a cancelled first round leaves): no panic, no access out of range.
        let (x, y) = ([5i64, 1, 9, 0], [7i64, 2, 8]);
        for k0 in 0..=7 {
            for k1 in k0..=7 {
                let (i0, i1) = (merge_split(&x, &y, k0), merge_split(&x, &y, k1));
                assert!(i0 <= x.len() && k0 - i0 <= y.len());
                if i0 <= i1 && k0 - i0 <= k1 - i1 {
                    merge(&x[i0..i1], &y[k0 - i0..k1 - i1], &mut vec![0; k1 - k0]);
                }
            }
        }
        for (x, y) in [
            (&[3i64, 3, 3][..], &[3i64, 3][..]),
            (&[9, 8, 7], &[1, 2]),
            (&[1], &[]),
        ] {
            merge(x, y, &mut vec![0; x.len() + y.len()]);
        }
    }

    #[test]
    #[ignore = "timing: cargo test --release -p gilfree-kernels merge_timing -- --ignored --nocapture"]
    #[allow(clippy::print_stdout)]
    fn merge_timing() {
        use std::time::Instant;
        for n in [2048usize, 8192, 16384, 65536] {
            let a: Vec<f64> = xorshift(n, 5)
                .iter()
                .map(|x| (*x >> 11) as f64 / (1u64 << 53) as f64)
                .collect();
            let one = Ctx::new(Threads::Caller, None);
            let best = |f: &mut dyn FnMut()| {
                let mut b = f64::INFINITY;
                for _ in 0..200 {
                    let t = Instant::now();
                    f();
                    b = b.min(t.elapsed().as_secs_f64() * 1e6);
                }
                b
            };
            let (mut v, mut s) = (a.clone(), a.clone());
            let half = n / 2;
            let t_half = best(&mut || {
                v[..half].copy_from_slice(&a[..half]);
                seq_sort(&one, &mut v[..half], &mut s[..half]).unwrap();
            });
            let t_full = best(&mut || {
                v.copy_from_slice(&a);
                seq_sort(&one, &mut v, &mut s).unwrap();
            });
            let mut x = a[..half].to_vec();
            let mut y = a[half..].to_vec();
            x.sort_by(f64::total_cmp);
            y.sort_by(f64::total_cmp);
            let mut o = vec![0.0; n];
            let t_merge = best(&mut || merge(&x, &y, &mut o));
            let pool = Ctx::new(Threads::Pool, None);
            let t_ms = best(&mut || {
                merge_sort(&pool, &a, &mut o, 2).unwrap();
            });
            println!("n={n}: seq full {t_full:.1} us, seq half {t_half:.1}, merge all {t_merge:.1}, merge_sort(2) {t_ms:.1}");
        }
    }

    #[test]
    fn sort_into_matches() {
        let a: Vec<i32> = xorshift(PAR_MIN * 2, 7).iter().map(|x| *x as i32).collect();
        let mut out = vec![0; a.len()];
        sort_into(&Ctx::new(Threads::Pool, None), &a, &mut out).unwrap();
        let mut want = a.clone();
        want.sort_unstable();
        assert_eq!(out, want);
    }

    #[test]
    fn duplicates_skew_and_huge_pages() {
        // More than 8 MiB of output (the huge-page advice), heavy duplicates (constant
        // buckets), keys spread over many binades (floats near zero: runs of equal
        // top bits inside a bucket), and buckets larger than `LSD_MAX` (a most-significant-digit
        // level first).
        let n = 1 << 21;
        let raw = xorshift(n, 0x2545_f491_4f6c_dd1d);
        let a: Vec<f64> = raw
            .iter()
            .enumerate()
            .map(|(i, x)| match i % 5 {
                0 => 3.0,
                1 => f64::from_bits(*x >> 2) * 1e-300,
                2 => -((x % 7) as f64),
                _ => (*x as f64) / 1e15,
            })
            .collect();
        let want = reference_f64(&a);
        for threads in [Threads::Caller, Threads::Pool] {
            assert!(same_f64(&sort(&Ctx::new(threads, None), &a).unwrap(), &want));
        }
        // Two values only, then one bucket of nearly everything.
        let b: Vec<i64> = raw
            .iter()
            .map(|x| if x % 1000 == 0 { (*x >> 1) as i64 } else { 5 })
            .collect();
        let mut want = b.clone();
        want.sort_unstable();
        assert_eq!(sort(&Ctx::new(Threads::Pool, None), &b).unwrap(), want);
        let c: Vec<i64> = raw.iter().map(|x| (x % (1 << 40)) as i64 * 3).collect();
        let mut want = c.clone();
        want.sort_unstable();
        assert_eq!(sort(&Ctx::new(two(), None), &c).unwrap(), want);
        let mut big = [LSD_MAX * 3, 70_000, 33, 40].map(|k| xorshift(k, 3));
        for v in &mut big {
            let mut s = v.clone();
            let mut want = v.iter().map(|x| *x as i64).collect::<Vec<_>>();
            want.sort_unstable();
            let mut w: Vec<i64> = v.iter().map(|x| *x as i64).collect();
            let mut ws: Vec<i64> = s.iter_mut().map(|x| *x as i64).collect();
            seq_sort(&Ctx::new(Threads::Caller, None), &mut w, &mut ws).unwrap();
            assert_eq!(w, want);
        }
    }

    /// Uniform `[0, 1)` and standard normal doubles, as NumPy's generators make them.
    fn uniform_and_normal(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        #[allow(clippy::cast_precision_loss)]
        let unit: Vec<f64> = xorshift(2 * n, seed)
            .iter()
            .map(|x| (x >> 11) as f64 / (1u64 << 53) as f64)
            .collect();
        let normal = unit
            .chunks(2)
            .map(|p| (-2.0 * (1.0 - p[0]).ln()).sqrt() * (std::f64::consts::TAU * p[1]).cos())
            .collect();
        (unit[..n].to_vec(), normal)
    }

    #[test]
    fn lsd_bits_follow_the_density_of_the_keys() {
        fn bits<T: SortKey>(v: &[T]) -> (u32, u32, u32) {
            let (lo, hi) = v
                .iter()
                .fold((u64::MAX, 0), |(l, h), x| (l.min(x.ukey()), h.max(x.ukey())));
            let width = u64::BITS - (hi - lo).leading_zeros();
            (lsd_top_bits(v, lo, width), v.len().ilog2() + 3, width)
        }
        for n in [256, 2048, 32768, LSD_MAX] {
            let (unit, normal) = uniform_and_normal(n, 0x9e37_79b9);
            // Normal keys crowd into a few exponents around zero: more bits than uniform ones,
            // and both more than an even spread would need; never more than the keys have.
            let (u, base, uw) = bits(&unit);
            let (g, _, gw) = bits(&normal);
            assert!(base <= u && u <= uw, "n={n}: uniform {u} of {base}..={uw}");
            assert!(u < g && g <= gw, "n={n}: normal {g}, uniform {u}, width {gw}");
            // Integers spread evenly over their range: the base is enough.
            #[allow(clippy::cast_possible_wrap)]
            let ints: Vec<i64> = xorshift(n, 7).iter().map(|x| (x >> 11) as i64).collect();
            let (i, base, _) = bits(&ints);
            assert!(i <= base + 2, "n={n}: ints {i}, base {base}");
            // Mostly equal keys: nothing to measure, the base.
            let mut few = vec![1.0; n];
            few[n / 2] = 2.0;
            let (f, base, w) = bits(&few);
            assert_eq!(f, base.min(w));
        }
        // Uniform keys need two passes at LSD_MAX, whatever the sample: a 23rd bit (a third
        // pass) on some seeds made those sorts 1.45x slower.
        for seed in 1..=16u64 {
            let (unit, _) = uniform_and_normal(LSD_MAX, seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let (u, _, _) = bits(&unit);
            assert!(u <= 2 * LSD_DIGIT, "seed {seed}: {u} bits");
        }
        // And the sort is right for all of them, at every size around the thresholds, on one
        // thread (the LSD path) and two (the merge sort's runs).
        for n in [100, 257, 1000, 4097, 40_000, LSD_MAX, LSD_MAX + 1] {
            let (unit, normal) = uniform_and_normal(n, n as u64 + 1);
            for a in [unit, normal] {
                let want = reference_f64(&a);
                for threads in [Threads::Caller, two()] {
                    assert!(
                        same_f64(&sort(&Ctx::new(threads, None), &a).unwrap(), &want),
                        "n={n}"
                    );
                }
            }
        }
    }

    #[test]
    fn cancelled() {
        let a: Vec<i64> = (0..3 * PAR_MIN as i64).rev().collect();
        let ctx = Ctx::new(Threads::Pool, None);
        ctx.cancel();
        assert_eq!(sort(&ctx, &a), Err(crate::Error::Cancelled));
    }

    proptest! {
        #[test]
        fn f64_matches_reference(a in prop::collection::vec(
            prop_oneof![any::<f64>(), Just(f64::NAN), Just(-0.0), Just(0.0), Just(f64::INFINITY)], 0..2000)) {
            let got = sort(&Ctx::new(Threads::Pool, None), &a).unwrap();
            prop_assert!(same_f64(&got, &reference_f64(&a)));
        }

        #[test]
        fn f32_matches_reference(a in prop::collection::vec(any::<f32>(), 0..2000)) {
            let got = sort(&Ctx::new(Threads::Caller, None), &a).unwrap();
            let wide: Vec<f64> = a.iter().map(|v| f64::from(*v)).collect();
            let got_wide: Vec<f64> = got.iter().map(|v| f64::from(*v)).collect();
            prop_assert!(same_f64(&got_wide, &reference_f64(&wide)));
        }

        #[test]
        fn ints_match_std(a in prop::collection::vec(any::<i64>(), 0..2000), b in prop::collection::vec(any::<i32>(), 0..2000)) {
            let mut want = a.clone();
            want.sort_unstable();
            prop_assert_eq!(sort(&Ctx::new(Threads::Pool, None), &a).unwrap(), want);
            let mut want = b.clone();
            want.sort_unstable();
            prop_assert_eq!(sort(&Ctx::new(Threads::Pool, None), &b).unwrap(), want);
        }
    }
}
