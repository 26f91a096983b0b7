//! The Mandelbrot set: [`mandelbrot`] renders the escape-time counts of a rectangular window.
//!
//! # What is computed, exactly
//!
//! For the pixel in row `i` (`0..height`) and column `j` (`0..width`), in float64:
//!
//! ```text
//! dx = (xmax - xmin) / width            dy = (ymax - ymin) / height
//! cr = xmin + j * dx                    ci = ymin + i * dy
//! zr = zi = 0.0;  n = 0
//! while n < max_iter:
//!     zr2 = zr * zr;  zi2 = zi * zi
//!     if zr2 + zi2 > 4.0: break         # the escape test comes BEFORE the update
//!     zi = 2.0 * zr * zi + ci           # ((2.0 * zr) * zi) + ci
//!     zr = zr2 - zi2 + cr               # (zr2 - zi2) + cr
//!     n += 1
//! value = n
//! ```
//!
//! `width`, `height`, `i` and `j` convert to float64 exactly. Every operation is one IEEE-754
//! double operation, rounded to nearest, evaluated left to right as written; nothing is fused
//! (Rust never contracts `a * b + c` into an FMA and no path here uses FMA instructions). So the
//! value is the smallest `n < max_iter` with `|z_n|² > 4`, where `z_0 = 0` and
//! `z_{n+1} = z_n² + c`, or `max_iter` if there is none. `z_0 = 0` never escapes, so every value is
//! at least 1: a point far outside the set gets 1, a point of the set (`c = 0`, `c = -2`, `c = i`)
//! gets `max_iter`. The same lines in pure Python give the same numbers bit for bit
//! (`tests/test_fractal.py` checks it).
//!
//! # Parallel work and determinism
//!
//! The image is cut, in row-major order, into tasks of [`task_pixels`]`(max_iter)` consecutive
//! pixels (at most 960, 60 % of a row of 1600; fewer for large `max_iter`, so that no task runs
//! much longer than ~10 ms). Rows near the set cost up to `max_iter` iterations per pixel and
//! rows far from it one or two, so the tasks are handed out dynamically by
//! [`Ctx::map_tasks`]; each writes its own disjoint slice of the output. Every pixel is computed
//! on its own, by the formula above, so the result does not depend on the thread count, the task
//! size or the SIMD path.
//!
//! # SIMD
//!
//! A task is processed in blocks of adjacent pixels, one pixel per SIMD lane. All the lanes of a
//! block iterate together; a lane whose point escaped stops counting (a sticky mask) and the
//! block stops when every lane escaped or `max_iter` is reached. Lanes past the end of a task
//! repeat the block's first pixel (no extra iterations) and are dropped. Three paths, chosen at run time:
//!
//! * **AVX-512F**: 3 × 8 lanes in `__m512d`, escape masks in mask registers;
//! * **AVX2**: 4 × 4 lanes in `__m256d`, the exit test every 2 iterations;
//! * **portable**: 8 lanes as `[f64; 8]`, run under [`simd::dispatch`] (LLVM vectorises it).
//!
//! Several independent registers per block hide the latency of the `z` recurrence. The paths
//! perform the same IEEE operations on each lane, so they give identical counts (a core test
//! runs every path the CPU has and compares them).
//!
//! # Limits
//!
//! `width, height >= 1`, `1 <= max_iter <= 65535` (the counts are uint16), the window finite and
//! non-empty (`xmin < xmax`, `ymin < ymax`, and `xmax - xmin`, `ymax - ymin` finite). The output
//! may have at most [`MAX_PIXELS`] pixels (8 GiB of uint16); more is [`Error::Overflow`], as is
//! an allocation the system refuses. Both are checked before any work starts.

use std::sync::{Mutex, PoisonError};

use crate::engine::Ctx;
use crate::{simd, Error, Result};

/// The largest `max_iter`: the counts are returned as uint16.
pub const MAX_ITER_LIMIT: u64 = u16::MAX as u64;

/// The most pixels one call renders: 2³² (65536 × 65536), an 8 GiB uint16 result. An explicit
/// limit rather than "whatever the allocator grants": with overcommit, a larger request could be
/// granted and then kill the process when the pages are touched.
pub const MAX_PIXELS: u64 = 1 << 32;

/// Pixels per task at most: 20 blocks of 48 (a multiple of every path's block size). At the
/// usual `max_iter` of a few hundred a task is then 10-60 µs of AVX2 work, so that a small image
/// (160 × 120 has 20 tasks) is shared by two threads with little imbalance at the end.
const TASK_PIXELS_MAX: usize = 960;

/// Task sizes are multiples of this (the least common multiple of the block sizes 8, 16, 24).
const TASK_PIXELS_STEP: usize = 48;

/// Pixel-iterations one task may cost at most: ~4 ms on the AVX-512 path, ~6 ms with AVX2 and
/// ~14 ms on the portable baseline build (one Zen 4 core). Bounds how long the calling thread goes without polling for Ctrl-C when it
/// runs the tasks itself (`threads=1`): it polls between tasks.
const TASK_WORK: u64 = 1 << 24;

/// The complex window to render. The default, `[-2, 1] × [-1.5, 1.5]`, holds the whole set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Real part of the left edge (column 0).
    pub xmin: f64,
    /// Real part of the right edge (excluded: column `width` would be here).
    pub xmax: f64,
    /// Imaginary part of row 0.
    pub ymin: f64,
    /// Imaginary part past the last row (excluded).
    pub ymax: f64,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            xmin: -2.0,
            xmax: 1.0,
            ymin: -1.5,
            ymax: 1.5,
        }
    }
}

/// The number of pixels in each task (the last task may have fewer): `2^24 / max_iter`, between
/// 48 and 960, rounded down to a multiple of 48. Depends on `max_iter` only.
pub fn task_pixels(max_iter: u32) -> usize {
    let by_work = usize::try_from(TASK_WORK / u64::from(max_iter.max(1))).unwrap_or(TASK_PIXELS_MAX);
    let clamped = by_work.clamp(TASK_PIXELS_STEP, TASK_PIXELS_MAX);
    clamped - clamped % TASK_PIXELS_STEP
}

/// The validated parameters of one call.
#[derive(Clone, Copy, Debug)]
struct Grid {
    width: usize,
    height: usize,
    max_iter: u32,
    xmin: f64,
    ymin: f64,
    dx: f64,
    dy: f64,
}

fn invalid(arg: &'static str, message: String) -> Error {
    Error::InvalidArgument { arg, message }
}

/// A dimension as the user gave it; the binding maps Python ints past int64 to `u64::MAX`.
fn show_dim(d: u64) -> String {
    if d == u64::MAX {
        "(2**64 or more)".to_owned()
    } else {
        d.to_string()
    }
}

impl Grid {
    fn new(width: u64, height: u64, max_iter: u64, w: Window) -> Result<Grid> {
        if width == 0 {
            return Err(invalid("width", "must be an int >= 1, got 0".to_owned()));
        }
        if height == 0 {
            return Err(invalid("height", "must be an int >= 1, got 0".to_owned()));
        }
        if !(1..=MAX_ITER_LIMIT).contains(&max_iter) {
            return Err(invalid(
                "max_iter",
                format!(
                    "must be an int in 1..{MAX_ITER_LIMIT} (the counts are uint16), got {}",
                    show_dim(max_iter)
                ),
            ));
        }
        for (arg, v) in [
            ("xmin", w.xmin),
            ("xmax", w.xmax),
            ("ymin", w.ymin),
            ("ymax", w.ymax),
        ] {
            if !v.is_finite() {
                return Err(invalid(arg, format!("must be finite, got {v}")));
            }
        }
        for (lo_name, lo, hi_name, hi) in [("xmin", w.xmin, "xmax", w.xmax), ("ymin", w.ymin, "ymax", w.ymax)]
        {
            if lo >= hi {
                return Err(invalid(
                    hi_name,
                    format!("must be greater than {lo_name}, got {lo_name}={lo:?}, {hi_name}={hi:?}"),
                ));
            }
            if !(hi - lo).is_finite() {
                return Err(invalid(
                    hi_name,
                    format!("- {lo_name} overflows float64 ({lo_name}={lo:?}, {hi_name}={hi:?})"),
                ));
            }
        }
        let too_large = || {
            Error::Overflow(format!(
                "a {} x {} image is larger than the {MAX_PIXELS} pixels (8 GiB of uint16) one call \
                 renders",
                show_dim(width),
                show_dim(height)
            ))
        };
        let pixels = width.checked_mul(height).ok_or_else(too_large)?;
        if pixels > MAX_PIXELS {
            return Err(too_large());
        }
        // Both fit in usize now (a 32-bit target could still refuse more than 2^32 - 1 pixels).
        let width_us = usize::try_from(width).map_err(|_| too_large())?;
        let height_us = usize::try_from(height).map_err(|_| too_large())?;
        width_us.checked_mul(height_us).ok_or_else(too_large)?;
        #[allow(clippy::cast_precision_loss)] // exact: both are at most 2^32
        let (wf, hf) = (width as f64, height as f64);
        Ok(Grid {
            width: width_us,
            height: height_us,
            max_iter: u32::try_from(max_iter).unwrap_or(u32::MAX),
            xmin: w.xmin,
            ymin: w.ymin,
            dx: (w.xmax - w.xmin) / wf,
            dy: (w.ymax - w.ymin) / hf,
        })
    }

    fn pixels(&self) -> usize {
        self.width * self.height
    }

    /// The real part of column `j`, given as the float64 `jf` (exactly `j`), as in the module docs.
    #[inline(always)]
    fn re(&self, jf: f64) -> f64 {
        self.xmin + jf * self.dx
    }

    /// The imaginary part of row `i` (exactly, as in the module docs).
    #[inline(always)]
    #[allow(clippy::cast_precision_loss)] // exact: i < 2^32
    fn im(&self, i: usize) -> f64 {
        self.ymin + i as f64 * self.dy
    }
}

/// An explicit instruction-set path (see the module docs). Every path gives the same counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// `[f64; 8]` lanes under [`simd::dispatch`] (itself AVX2-compiled or baseline).
    Portable,
    /// Explicit AVX2 intrinsics, 16 lanes.
    Avx2,
    /// Explicit AVX-512F intrinsics, 24 lanes.
    Avx512,
}

impl Path {
    /// The fastest path this CPU supports. [`simd::avx2_enabled`] also honours the tests' pin to
    /// the baseline build, which then selects the portable path.
    fn best() -> Path {
        if !simd::avx2_enabled() {
            return Path::Portable;
        }
        if Path::Avx512.supported() {
            return Path::Avx512;
        }
        Path::Avx2
    }

    /// True when this CPU can run the path.
    pub(crate) fn supported(self) -> bool {
        match self {
            Path::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => x86::Avx2::detect().is_some(),
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => avx512::Avx512::detect().is_some(),
            #[allow(unreachable_patterns)] // reachable on other targets
            _ => false,
        }
    }
}

/// The Mandelbrot escape-time counts of `window` on a `width × height` grid, row-major
/// (`out[i * width + j]` is row `i`, column `j`), as defined in the module docs.
///
/// # Errors
///
/// [`Error::InvalidArgument`] for a zero dimension, `max_iter` outside `1..=65535`, a non-finite
/// or empty window; [`Error::Overflow`] for more than [`MAX_PIXELS`] pixels, [`Error::OutOfMemory`] for an
/// output the allocator refuses; [`Error::Cancelled`] on Ctrl-C.
pub fn mandelbrot(ctx: &Ctx<'_>, width: u64, height: u64, max_iter: u64, window: Window) -> Result<Vec<u16>> {
    render(ctx, &Grid::new(width, height, max_iter, window)?, Path::best())
}

/// Checks [`mandelbrot`]'s arguments without rendering anything: the same errors it would
/// return before starting (the executor validates at submit time with this).
///
/// # Errors
///
/// [`Error::InvalidArgument`] and [`Error::Overflow`] exactly as [`mandelbrot`] (except the
/// allocation failure, which only rendering can meet).
pub fn validate(width: u64, height: u64, max_iter: u64, window: Window) -> Result<()> {
    Grid::new(width, height, max_iter, window).map(|_| ())
}

/// [`mandelbrot`] on a given path (an unsupported one falls back to the portable path).
#[cfg(test)]
pub(crate) fn mandelbrot_on(
    ctx: &Ctx<'_>,
    width: u64,
    height: u64,
    max_iter: u64,
    window: Window,
    path: Path,
) -> Result<Vec<u16>> {
    render(ctx, &Grid::new(width, height, max_iter, window)?, path)
}

fn render(ctx: &Ctx<'_>, g: &Grid, path: Path) -> Result<Vec<u16>> {
    let n = g.pixels();
    // Zeroed by the allocator (lazily, page by page, as the tasks first touch them): no serial
    // fill of gigabytes before the first task, during which Ctrl-C could not be noticed.
    let what = format!("a {} x {} uint16 image", g.width, g.height);
    let mut out: Vec<u16> = crate::zeroed_vec(n, &what)?;
    let per_task = task_pixels(g.max_iter);
    {
        // One slice per task, each behind its own (never contended) lock: tasks write disjoint
        // parts of the output from whichever worker runs them.
        let slices: Vec<Mutex<&mut [u16]>> = out.chunks_mut(per_task).map(Mutex::new).collect();
        let done = ctx.map_tasks(slices.len(), |t| {
            let mut slice = slices[t].lock().unwrap_or_else(PoisonError::into_inner);
            render_task(ctx, g, path, t * per_task, &mut slice)
        })?;
        done.into_iter().collect::<Result<()>>()?;
    }
    Ok(out)
}

/// Renders the pixels `start .. start + out.len()` (row-major) on `path`, or on the portable
/// path if the CPU does not support `path`.
fn render_task(ctx: &Ctx<'_>, g: &Grid, path: Path, start: usize, out: &mut [u16]) -> Result<()> {
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => {
            if let Some(avx2) = x86::Avx2::detect() {
                // SAFETY: `detect` found AVX2 on this CPU, all that `task` requires.
                return unsafe { x86::task(avx2, ctx, g, start, out) };
            }
        }
        #[cfg(target_arch = "x86_64")]
        Path::Avx512 => {
            if let Some(avx512) = avx512::Avx512::detect() {
                // SAFETY: `detect` found AVX-512F on this CPU, all that `task` requires.
                return unsafe { avx512::task(avx512, ctx, g, start, out) };
            }
        }
        _ => {}
    }
    simd::dispatch(PortableTask { ctx, g, start, out })
}

/// What [`render_blocks`] runs on each block of `L` pixels: the counts of the points `cr + ci·i`.
///
/// A method with `#[inline(always)]`, called on a value, not a closure or a fn item: those stay
/// separate functions compiled for the baseline, so the portable block would not get AVX2 under
/// [`simd::dispatch`] (measured: it did not). The explicit paths' values are tokens that exist
/// only once the CPU feature was detected, which is what makes calling their intrinsics sound.
trait Block<const L: usize>: Copy {
    fn counts(self, cr: &[f64; L], ci: &[f64; L], max_iter: u32) -> [u32; L];
}

/// The loop of one task over blocks of `L` pixels, whatever computes a block: fills the lanes
/// with the block's points (lanes past the end repeat the block's first pixel: no extra
/// iterations, results dropped), runs `block`, stores the counts. Checks for cancellation before
/// each block (a block costs at most `L × max_iter` iterations, well under a millisecond).
#[inline(always)]
fn render_blocks<const L: usize, B: Block<L>>(
    ctx: &Ctx<'_>,
    g: &Grid,
    start: usize,
    out: &mut [u16],
    block: B,
) -> Result<()> {
    // Lane offsets 0.0, 1.0, ..., L - 1 (a constant after inlining).
    #[allow(clippy::cast_precision_loss)] // exact: l < L
    let offsets: [f64; L] = std::array::from_fn(|l| l as f64);
    let (mut i, mut j) = (start / g.width, start % g.width);
    for chunk in out.chunks_mut(L) {
        ctx.check()?;
        let mut cr = [0.0f64; L];
        let mut ci = [0.0f64; L];
        if chunk.len() == L && j + L <= g.width {
            // The common case, one full block inside one row, vectorised: `jf + offsets[l]` is
            // the integer `j + l` (< 2^53), exactly what `(j + l) as f64` would give.
            #[allow(clippy::cast_precision_loss)] // exact: j < 2^32
            let jf = j as f64;
            let row = g.im(i);
            for l in 0..L {
                cr[l] = g.re(jf + offsets[l]);
                ci[l] = row;
            }
            j += L;
        } else {
            for l in 0..chunk.len() {
                #[allow(clippy::cast_precision_loss)] // exact: j < 2^32
                let jf = j as f64;
                (cr[l], ci[l]) = (g.re(jf), g.im(i));
                j += 1;
                if j == g.width {
                    j = 0;
                    i += 1;
                }
            }
            for l in chunk.len()..L {
                (cr[l], ci[l]) = (cr[0], ci[0]);
            }
        }
        if j == g.width {
            j = 0;
            i += 1;
        }
        let counts = block.counts(&cr, &ci, g.max_iter);
        for (o, &c) in chunk.iter_mut().zip(counts.iter()) {
            // c <= max_iter <= 65535
            *o = u16::try_from(c).unwrap_or(u16::MAX);
        }
    }
    Ok(())
}

/// Lanes of the portable path.
const PORTABLE_LANES: usize = 8;

/// One block of the portable path: the module docs' loop on [`PORTABLE_LANES`] lanes at once.
#[inline(always)]
#[allow(clippy::neg_cmp_op_on_partial_ord)] // `!(s > 4)`, not `s <= 4`: as the Python loop, NaN goes on
fn block_portable(
    cr: &[f64; PORTABLE_LANES],
    ci: &[f64; PORTABLE_LANES],
    max_iter: u32,
) -> [u32; PORTABLE_LANES] {
    let mut zr = [0.0f64; PORTABLE_LANES];
    let mut zi = [0.0f64; PORTABLE_LANES];
    let mut count = [0u32; PORTABLE_LANES];
    let mut active = [true; PORTABLE_LANES];
    let mut n = 0;
    while n < max_iter {
        let mut any = false;
        for k in 0..PORTABLE_LANES {
            let zr2 = zr[k] * zr[k];
            let zi2 = zi[k] * zi[k];
            // Sticky: once escaped, a lane never counts again (its z may overflow to inf/NaN).
            active[k] &= !(zr2 + zi2 > 4.0);
            any |= active[k];
            count[k] += u32::from(active[k]);
            zi[k] = 2.0 * zr[k] * zi[k] + ci[k];
            zr[k] = zr2 - zi2 + cr[k];
        }
        if !any {
            break;
        }
        n += 1;
    }
    count
}

/// The portable block (no requirement on the CPU).
#[derive(Clone, Copy)]
struct Portable;

impl Block<PORTABLE_LANES> for Portable {
    #[inline(always)]
    fn counts(
        self,
        cr: &[f64; PORTABLE_LANES],
        ci: &[f64; PORTABLE_LANES],
        max_iter: u32,
    ) -> [u32; PORTABLE_LANES] {
        block_portable(cr, ci, max_iter)
    }
}

struct PortableTask<'a, 'c, 'o> {
    ctx: &'a Ctx<'c>,
    g: &'a Grid,
    start: usize,
    out: &'o mut [u16],
}

impl simd::Kernel for PortableTask<'_, '_, '_> {
    type Output = Result<()>;
    #[inline(always)]
    fn run(self) -> Result<()> {
        render_blocks::<PORTABLE_LANES, _>(self.ctx, self.g, self.start, self.out, Portable)
    }
}

/// The explicit AVX2 path: 16 lanes as four `__m256d`.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        _mm256_add_pd, _mm256_and_pd, _mm256_castpd_si256, _mm256_castsi256_pd, _mm256_cmp_pd,
        _mm256_loadu_pd, _mm256_movemask_pd, _mm256_mul_pd, _mm256_or_pd, _mm256_set1_epi64x, _mm256_set1_pd,
        _mm256_setzero_pd, _mm256_setzero_si256, _mm256_storeu_si256, _mm256_sub_epi64, _mm256_sub_pd,
        _CMP_NGT_UQ,
    };

    use super::{render_blocks, Block, Grid};
    use crate::engine::Ctx;
    use crate::Result;

    /// Registers per block: four independent `z` recurrences hide the ~9-cycle latency of one.
    const REGS: usize = 4;
    /// Lanes per block.
    pub(super) const LANES: usize = 4 * REGS;

    /// Proof that the CPU supports AVX2: only [`Avx2::detect`] makes one.
    #[derive(Clone, Copy, Debug)]
    pub(super) struct Avx2 {
        _detected: (),
    }

    impl Avx2 {
        pub(super) fn detect() -> Option<Avx2> {
            std::arch::is_x86_feature_detected!("avx2").then_some(Avx2 { _detected: () })
        }
    }

    impl Block<LANES> for Avx2 {
        #[inline(always)]
        fn counts(self, cr: &[f64; LANES], ci: &[f64; LANES], max_iter: u32) -> [u32; LANES] {
            // SAFETY: an `Avx2` exists only if the CPU supports AVX2 (`detect`).
            unsafe { block(cr, ci, max_iter) }
        }
    }

    /// Renders one task with AVX2 (the whole loop compiled for AVX2, `block` inlined into it).
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2 (as the token proves).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn task(
        avx2: Avx2,
        ctx: &Ctx<'_>,
        g: &Grid,
        start: usize,
        out: &mut [u16],
    ) -> Result<()> {
        render_blocks::<LANES, _>(ctx, g, start, out, avx2)
    }

    /// One block: per lane exactly the operations of `block_portable`. The mask `act` is all
    /// ones in active lanes; `cnt - act` adds 1 to each of them. `_CMP_NGT_UQ` is `!(s > 4)`,
    /// true for NaN too, as in the portable code. The exit test (any lane active?) runs every
    /// second iteration; an extra iteration after every lane escaped changes no count.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn block(cr: &[f64; LANES], ci: &[f64; LANES], max_iter: u32) -> [u32; LANES] {
        let four = _mm256_set1_pd(4.0);
        let two = _mm256_set1_pd(2.0);
        let mut zr = [_mm256_setzero_pd(); REGS];
        let mut zi = [_mm256_setzero_pd(); REGS];
        let mut cnt = [_mm256_setzero_si256(); REGS];
        let mut act = [_mm256_castsi256_pd(_mm256_set1_epi64x(-1)); REGS];
        let mut vcr = [_mm256_setzero_pd(); REGS];
        let mut vci = [_mm256_setzero_pd(); REGS];
        for k in 0..REGS {
            // SAFETY: `4 * k + 3 < LANES`, in bounds of both arrays; unaligned loads are allowed.
            unsafe {
                vcr[k] = _mm256_loadu_pd(cr.as_ptr().add(4 * k));
                vci[k] = _mm256_loadu_pd(ci.as_ptr().add(4 * k));
            }
        }
        // One iteration of every lane (a macro rather than a closure: it must inline into this
        // AVX2 function).
        macro_rules! step {
            () => {
                for k in 0..REGS {
                    let zr2 = _mm256_mul_pd(zr[k], zr[k]);
                    let zi2 = _mm256_mul_pd(zi[k], zi[k]);
                    let s = _mm256_add_pd(zr2, zi2);
                    act[k] = _mm256_and_pd(act[k], _mm256_cmp_pd::<_CMP_NGT_UQ>(s, four));
                    cnt[k] = _mm256_sub_epi64(cnt[k], _mm256_castpd_si256(act[k]));
                    let t = _mm256_mul_pd(two, zr[k]);
                    zi[k] = _mm256_add_pd(_mm256_mul_pd(t, zi[k]), vci[k]);
                    zr[k] = _mm256_add_pd(_mm256_sub_pd(zr2, zi2), vcr[k]);
                }
            };
        }
        let mut n = 0;
        loop {
            if n + 2 <= max_iter {
                step!();
                step!();
                n += 2;
            } else if n < max_iter {
                step!();
                n += 1;
            } else {
                break;
            }
            let mut any = act[0];
            for a in &act[1..] {
                any = _mm256_or_pd(any, *a);
            }
            if _mm256_movemask_pd(any) == 0 {
                break;
            }
        }
        let mut wide = [0i64; LANES];
        for (k, c) in cnt.iter().enumerate() {
            // SAFETY: `4 * k + 3 < LANES`, in bounds; unaligned stores are allowed.
            unsafe { _mm256_storeu_si256(wide.as_mut_ptr().add(4 * k).cast(), *c) };
        }
        // Counts are in 0..=max_iter <= 65535.
        wide.map(|c| u32::try_from(c).unwrap_or(u32::MAX))
    }
}

/// The explicit AVX-512F path: 24 lanes as three `__m512d` (AVX-512 intrinsics are stable since
/// Rust 1.89, the workspace's `rust-version`).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512d, __m512i, __mmask8, _mm512_add_pd, _mm512_loadu_pd, _mm512_mask_add_epi64,
        _mm512_mask_cmp_pd_mask, _mm512_mul_pd, _mm512_set1_epi64, _mm512_set1_pd, _mm512_setzero_pd,
        _mm512_setzero_si512, _mm512_storeu_si512, _mm512_sub_pd, _CMP_NGT_UQ,
    };

    use super::{render_blocks, Block, Grid};
    use crate::engine::Ctx;
    use crate::Result;

    /// Registers per block (three was fastest on the Zen 4 we measure on; two lose ~10%).
    const REGS: usize = 3;
    /// Lanes per block.
    pub(super) const LANES: usize = 8 * REGS;

    /// Proof that the CPU supports AVX-512F: only [`Avx512::detect`] makes one.
    #[derive(Clone, Copy, Debug)]
    pub(super) struct Avx512 {
        _detected: (),
    }

    impl Avx512 {
        pub(super) fn detect() -> Option<Avx512> {
            std::arch::is_x86_feature_detected!("avx512f").then_some(Avx512 { _detected: () })
        }
    }

    impl Block<LANES> for Avx512 {
        #[inline(always)]
        fn counts(self, cr: &[f64; LANES], ci: &[f64; LANES], max_iter: u32) -> [u32; LANES] {
            // SAFETY: an `Avx512` exists only if the CPU supports AVX-512F (`detect`).
            unsafe { block(cr, ci, max_iter) }
        }
    }

    /// Renders one task with AVX-512F (the whole loop compiled for it, `block` inlined into it).
    ///
    /// # Safety
    ///
    /// The CPU must support AVX-512F (as the token proves).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn task(
        avx512: Avx512,
        ctx: &Ctx<'_>,
        g: &Grid,
        start: usize,
        out: &mut [u16],
    ) -> Result<()> {
        render_blocks::<LANES, _>(ctx, g, start, out, avx512)
    }

    /// One block: per lane exactly the operations of `block_portable`. `act` is the sticky
    /// active mask: the masked compare keeps only lanes that were active and pass `!(s > 4)`
    /// (`_CMP_NGT_UQ`, true for NaN too, as in the portable code); only those add 1.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn block(cr: &[f64; LANES], ci: &[f64; LANES], max_iter: u32) -> [u32; LANES] {
        let four = _mm512_set1_pd(4.0);
        let two = _mm512_set1_pd(2.0);
        let one = _mm512_set1_epi64(1);
        let mut zr: [__m512d; REGS] = [_mm512_setzero_pd(); REGS];
        let mut zi: [__m512d; REGS] = [_mm512_setzero_pd(); REGS];
        let mut cnt: [__m512i; REGS] = [_mm512_setzero_si512(); REGS];
        let mut act: [__mmask8; REGS] = [0xFF; REGS];
        let mut vcr = [_mm512_setzero_pd(); REGS];
        let mut vci = [_mm512_setzero_pd(); REGS];
        for k in 0..REGS {
            // SAFETY: `8 * k + 7 < LANES`, in bounds of both arrays; unaligned loads are allowed.
            unsafe {
                vcr[k] = _mm512_loadu_pd(cr.as_ptr().add(8 * k));
                vci[k] = _mm512_loadu_pd(ci.as_ptr().add(8 * k));
            }
        }
        let mut n = 0;
        while n < max_iter {
            let mut any: __mmask8 = 0;
            for k in 0..REGS {
                let zr2 = _mm512_mul_pd(zr[k], zr[k]);
                let zi2 = _mm512_mul_pd(zi[k], zi[k]);
                let s = _mm512_add_pd(zr2, zi2);
                act[k] = _mm512_mask_cmp_pd_mask::<_CMP_NGT_UQ>(act[k], s, four);
                any |= act[k];
                cnt[k] = _mm512_mask_add_epi64(cnt[k], act[k], cnt[k], one);
                let t = _mm512_mul_pd(two, zr[k]);
                zi[k] = _mm512_add_pd(_mm512_mul_pd(t, zi[k]), vci[k]);
                zr[k] = _mm512_add_pd(_mm512_sub_pd(zr2, zi2), vcr[k]);
            }
            if any == 0 {
                break;
            }
            n += 1;
        }
        let mut wide = [0i64; LANES];
        for (k, c) in cnt.iter().enumerate() {
            // SAFETY: `8 * k + 7 < LANES`, in bounds; unaligned stores are allowed.
            unsafe { _mm512_storeu_si512(wide.as_mut_ptr().add(8 * k).cast(), *c) };
        }
        // Counts are in 0..=max_iter <= 65535.
        wide.map(|c| u32::try_from(c).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod test;
