//! `sort`: a sorted copy of a 1-D slice of float32, float64, int32 or int64, NaN last.
//!
//! # Algorithm: a parallel radix sort
//!
//! Every element has an unsigned integer key whose order is the sort order ([`SortKey::ukey`]):
//! the value with its sign bit flipped for integers; for floats the usual IEEE 754 bit trick
//! (negative values have every bit flipped, others their sign bit), with every NaN mapped to the
//! largest key (NaN last, as NumPy).
//!
//! 1. A parallel pass over fixed chunks of [`CHUNK_LEN`] elements (boundaries depend on the
//!    length only) finds the smallest and largest key; the top bit of `min ^ max` gives the most
//!    significant byte that varies, the digit of this pass (the bytes above it are common to all
//!    keys and skipped). A second parallel pass counts that byte per chunk.
//! 2. A parallel, stable scatter by that byte into the output (each chunk writes at offsets
//!    computed from the counts in chunk order): 256 buckets in key order.
//! 3. Each bucket is sorted on its own, buckets in parallel: a least-significant-digit radix sort
//!    over the remaining bytes (constant bytes skipped), in cache for typical buckets; tiny
//!    buckets use `sort_unstable`. A bucket of more than 128 Ki elements (skewed data, or a large
//!    input) is sorted by steps 1–3 again, so that it too runs on every worker.
//!
//! Ctrl-C is checked between chunks and between buckets (every task of `map_tasks`).
//!
//! # Determinism
//!
//! The sorted order of keys is unique, and elements with equal keys are bit-identical (NaNs with
//! different payloads aside, which all sort last): the output is the same for every thread count.
//! `-0.0` sorts before `0.0` (NumPy treats them as equal; `np.array_equal` agrees).

use std::ops::Range;

use crate::engine::Ctx;
use crate::{try_vec, zeroed_vec, Result, Zeroable};

/// Elements per chunk of the parallel counting and scatter passes.
pub const CHUNK_LEN: usize = 1 << 16;

/// Below this many elements the whole sort runs sequentially on one thread.
const PAR_MIN: usize = 1 << 17;

/// Below this many elements a bucket is sorted by comparison (`sort_unstable`).
const SMALL: usize = 256;

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
        if self.is_nan() {
            return u64::from(u32::MAX);
        }
        let b = self.to_bits();
        u64::from(if b >> 31 == 1 { !b } else { b | (1 << 31) })
    }
}

impl SortKey for f64 {
    const BYTES: u32 = 8;
    #[inline(always)]
    fn ukey(self) -> u64 {
        if self.is_nan() {
            return u64::MAX;
        }
        let b = self.to_bits();
        if b >> 63 == 1 {
            !b
        } else {
            b | (1 << 63)
        }
    }
}

/// Byte `d` (0 = least significant) of a key.
#[inline(always)]
fn digit(k: u64, d: u32) -> usize {
    ((k >> (8 * d)) & 0xFF) as usize
}

/// Counts of every byte value of each key byte (those below `top` only are filled).
type Counts = [[usize; 256]; 8];

fn count<T: SortKey>(v: &[T], top: u32) -> Box<Counts> {
    let mut h = Box::new([[0usize; 256]; 8]);
    for x in v {
        let k = x.ukey();
        for (d, row) in h.iter_mut().enumerate().take(top as usize) {
            #[allow(clippy::cast_possible_truncation)]
            let b = digit(k, d as u32);
            row[b] += 1;
        }
    }
    h
}

/// A raw pointer that may cross into pool tasks; tasks touch disjoint ranges.
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: used only for disjoint ranges of one live buffer (see the users).
unsafe impl<T: Send> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer to element `i` (a method, so that closures capture the whole `Send` value).
    ///
    /// # Safety
    ///
    /// `i` inside the buffer.
    unsafe fn at(self, i: usize) -> *mut T {
        // SAFETY: forwarded from the contract.
        unsafe { self.0.add(i) }
    }

    /// # Safety
    ///
    /// `r` inside the buffer, and no other live reference to those elements while it is used.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice<'a>(self, r: Range<usize>) -> &'a mut [T] {
        // SAFETY: forwarded from the contract.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(r.start), r.len()) }
    }
}

/// A sorted copy of `a` in a new vector (fallibly allocated).
///
/// # Errors
///
/// [`crate::Error::OutOfMemory`] if the output or the scratch buffer cannot be allocated;
/// [`crate::Error::Cancelled`] on Ctrl-C.
pub fn sort<T: SortKey>(ctx: &Ctx<'_>, a: &[T]) -> Result<Vec<T>> {
    // Zeroed by the OS lazily: its pages are first touched by the parallel scatter.
    let mut out: Vec<T> = zeroed_vec(a.len(), "the sorted output")?;
    sort_into(ctx, a, &mut out)?;
    Ok(out)
}

/// Writes the sorted elements of `a` into `out` (same length; must not overlap `a`).
///
/// # Errors
///
/// As [`sort`] (the scratch buffer is the allocation that can fail).
///
/// # Panics
///
/// If `out.len() != a.len()`.
pub fn sort_into<T: SortKey>(ctx: &Ctx<'_>, a: &[T], out: &mut [T]) -> Result<()> {
    let n = a.len();
    assert_eq!(out.len(), n, "sort_into: output length differs from input length");
    ctx.check()?;
    if n < PAR_MIN {
        out.copy_from_slice(a);
        if n > 1 {
            let mut scratch: Vec<T> = try_vec(n, "the sort's scratch buffer")?;
            scratch.extend_from_slice(a);
            seq_sort(out, &mut scratch, T::BYTES);
        }
        return ctx.check();
    }
    let mut scratch: Vec<T> = zeroed_vec(n, "the sort's scratch buffer")?;
    // SAFETY: three distinct live buffers of `n` elements (`out` does not overlap `a`: the
    // caller's contract, and `&mut` for a Rust caller); `a` is only read.
    unsafe {
        par_sort(
            ctx,
            SendPtr(a.as_ptr().cast_mut()),
            SendPtr(out.as_mut_ptr()),
            SendPtr(scratch.as_mut_ptr()),
            n,
            T::BYTES,
        )
    }
}

/// Copies `n` elements from `src` to `dst` in parallel chunks.
///
/// # Safety
///
/// Distinct live buffers of at least `n` elements.
unsafe fn par_copy<T: SortKey>(ctx: &Ctx<'_>, src: SendPtr<T>, dst: SendPtr<T>, n: usize) -> Result<()> {
    ctx.map_chunks(n, CHUNK_LEN, 1, |r| {
        // SAFETY: disjoint ranges of two distinct buffers.
        unsafe { dst.slice(r.clone()).copy_from_slice(src.slice(r)) }
    })
    .map(drop)
}

/// Sorts the `n` elements at `input` into `out`, by the bytes of the keys below `top` (those
/// above are constant), with `scratch` (`n` elements; may be `input`, which is dead after the
/// scatter) for the buckets.
///
/// # Safety
///
/// `input`, `out` and `scratch` point to `n` live elements each; `out` is distinct from the
/// other two; nothing else uses them for the duration.
unsafe fn par_sort<T: SortKey>(
    ctx: &Ctx<'_>,
    input: SendPtr<T>,
    out: SendPtr<T>,
    scratch: SendPtr<T>,
    n: usize,
    top: u32,
) -> Result<()> {
    // 1. The most significant byte that varies: the top bit of `min ^ max` of the keys (bytes
    // above it are common to every key); then the counts of that byte per chunk.
    let bounds = ctx.map_chunks(n, CHUNK_LEN, 1, |r| {
        // SAFETY: read-only over the live input.
        let src = unsafe { &*input.slice(r) };
        src.iter().fold((u64::MAX, 0u64), |(lo, hi), x| {
            let k = x.ukey();
            (lo.min(k), hi.max(k))
        })
    })?;
    let (lo, hi) = bounds
        .iter()
        .fold((u64::MAX, 0u64), |(lo, hi), &(l, h)| (lo.min(l), hi.max(h)));
    let diff = lo ^ hi;
    if diff == 0 {
        // Every key is equal: the input is sorted.
        // SAFETY: distinct live buffers of `n` elements.
        return unsafe { par_copy(ctx, input, out, n) };
    }
    let d = (63 - diff.leading_zeros()) / 8;
    debug_assert!(d < top);
    let counts = ctx.map_chunks(n, CHUNK_LEN, 1, |r| {
        // SAFETY: read-only over the live input.
        let src = unsafe { &*input.slice(r) };
        let mut h = [0usize; 256];
        for x in src {
            h[digit(x.ukey(), d)] += 1;
        }
        h
    })?;
    let mut total = [0usize; 256];
    for c in &counts {
        for (x, y) in total.iter_mut().zip(c) {
            *x += y;
        }
    }
    // 2. Stable scatter by byte `d`: chunk `c` writes its bucket-`b` elements from
    // `starts[b] + (bucket-b elements of the chunks before c)`.
    let mut starts = [0usize; 257];
    for b in 0..256 {
        starts[b + 1] = starts[b] + total[b];
    }
    let mut offsets: Vec<[usize; 256]> = try_vec(counts.len(), "the sort's bucket offsets")?;
    let mut run = [0usize; 256];
    run.copy_from_slice(&starts[..256]);
    for c in &counts {
        offsets.push(run);
        for (x, y) in run.iter_mut().zip(c) {
            *x += y;
        }
    }
    drop(counts);
    ctx.map_chunks(n, CHUNK_LEN, 1, |r| {
        let mut o = offsets[r.start / CHUNK_LEN];
        // SAFETY: each chunk reads its own range of the input.
        let src = unsafe { &*input.slice(r) };
        for x in src {
            let b = digit(x.ukey(), d);
            // SAFETY: chunk-and-bucket ranges are disjoint and inside `out`: `o[b]` stays below
            // `starts[b + 1] <= n` (the counts add up).
            unsafe { out.at(o[b]).write(*x) };
            o[b] += 1;
        }
    })?;
    // 3. Buckets: the large ones again in parallel, the others as tasks.
    let big = PAR_MIN;
    let buckets: Vec<Range<usize>> = (0..256)
        .map(|b| starts[b]..starts[b + 1])
        .filter(|r| r.len() > 1)
        .collect();
    for r in buckets.iter().filter(|r| r.len() > big) {
        // SAFETY: offsets inside the buffers.
        let (o, s) = unsafe { (SendPtr(out.at(r.start)), SendPtr(scratch.at(r.start))) };
        // SAFETY: the bucket's ranges of two distinct buffers (the input is dead: scratch may be it).
        unsafe { par_copy(ctx, o, s, r.len())? };
        // SAFETY: as above; the bucket's elements are now in `s`, sorted back into `o`.
        unsafe { par_sort(ctx, s, o, s, r.len(), d)? };
    }
    let small: Vec<&Range<usize>> = buckets.iter().filter(|r| r.len() <= big).collect();
    ctx.map_tasks(small.len(), |t| {
        let r = small[t].clone();
        // SAFETY: buckets are disjoint ranges; the scratch buffer is free after the scatter.
        let (v, s) = unsafe { (out.slice(r.clone()), scratch.slice(r)) };
        seq_sort(v, s, d);
    })?;
    Ok(())
}

/// Sorts `v` by the bytes of its keys below `top` (bytes above are constant), with `s` (the same
/// length) as scratch: least significant byte first, stable, constant bytes skipped.
fn seq_sort<T: SortKey>(v: &mut [T], s: &mut [T], top: u32) {
    let n = v.len();
    if n <= SMALL {
        v.sort_unstable_by_key(|x| x.ukey());
        return;
    }
    let h = count(v, top);
    let (mut a, mut b) = (v, s);
    let mut swapped = false;
    for d in 0..top {
        let row = &h[d as usize];
        if row.contains(&n) {
            continue;
        }
        let mut o = [0usize; 256];
        let mut acc = 0;
        for (slot, c) in o.iter_mut().zip(row) {
            *slot = acc;
            acc += c;
        }
        for x in a.iter() {
            let k = digit(x.ukey(), d);
            b[o[k]] = *x;
            o[k] += 1;
        }
        std::mem::swap(&mut a, &mut b);
        swapped = !swapped;
    }
    if swapped {
        // The result is in the scratch buffer (`a`); `b` is `v`.
        b.copy_from_slice(a);
    }
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
        // Parallel passes, skewed buckets (a narrow range: recursion), duplicates and NaNs.
        let n = 5 * PAR_MIN + 12345;
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
    fn sort_into_matches() {
        let a: Vec<i32> = xorshift(PAR_MIN * 2, 7).iter().map(|x| *x as i32).collect();
        let mut out = vec![0; a.len()];
        sort_into(&Ctx::new(Threads::Pool, None), &a, &mut out).unwrap();
        let mut want = a.clone();
        want.sort_unstable();
        assert_eq!(out, want);
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
