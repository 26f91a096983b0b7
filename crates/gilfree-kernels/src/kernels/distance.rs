//! `pairwise_distances`: the distance between every row of `x` (`n × d`) and every row of `y`
//! (`m × d`), an `n × m` matrix, with the meaning of SciPy's `cdist`.
//!
//! # Metrics and accuracy
//!
//! - `sqeuclidean`: `Σ (x_k − y_k)²`; `euclidean`: its square root;
//! - `cityblock`: `Σ |x_k − y_k|`;
//! - `cosine`: `1 − x·y / (‖x‖ ‖y‖)`, the quotient clipped to `[−1, 1]` before the subtraction,
//!   norms `sqrt(x·x)`; a zero row gives `0 / 0`, NaN, as in `cdist`.
//!
//! Every sum is accumulated in float64 (whatever the input type), one term after the other in
//! the order of `k`, each term fused into the running sum (`fma(t, t, s)` with `t = x_k − y_k`
//! for the squares, `fma(x_k, y_k, s)` for the dot products). The squared distances are formed
//! from the differences, never as `‖x‖² + ‖y‖² − 2 x·y`, so there is no cancellation: the
//! accuracy is `cdist`'s (it sums the same terms in the same order, without the fusion).
//!
//! # Algorithm: a register-blocked micro-kernel, as in a GEMM
//!
//! Both inputs are first packed (converted to float64) into micro-panels: `MR` rows of `x` and
//! `NR` rows of `y`, stored `k`-major (`[k][row]`), so that for each `k` the `NR` values of `y`
//! are contiguous lanes and the `MR` values of `x` are broadcast. The micro-kernel keeps the
//! `MR × NR` running sums in registers across a block of at most `KC` values of `k`. The output
//! is cut into square tiles of `TILE` = 96 rows and columns (24, 48 or 72 for results too small
//! to make 8 tiles of 96, so that the threads share them evenly); tiles run in parallel on the
//! pool, each
//! through its `k` blocks (Ctrl-C is checked between tasks and between `k` blocks), then writes
//! its finished values into the output.
//!
//! With `y` absent (`x` against itself), only the tiles on and above the diagonal are computed
//! and each is also written at its mirror position: the result is exactly symmetric (each of the
//! four metrics is symmetric bit for bit anyway: `(a − b)² = (b − a)²`, products commute), and
//! its diagonal is exactly zero (NaN where the row's own distance is NaN, as `cdist(x, x)`).
//!
//! # Determinism
//!
//! Each output element is one sum, term by term over `k` in order, whatever the tiling, the
//! thread count or the instruction set. The micro-kernel exists twice: in AVX2 + FMA intrinsics
//! (chosen at run time when the CPU has both; the whole tile loop is compiled with them) and as
//! portable Rust over explicit lanes (the baseline). `f64::mul_add` is an exactly rounded fused
//! multiply-add, like `vfmadd` (in the baseline build it is the C library's `fma`, slow on a CPU
//! without FMA but exact), so both give the same bits (unit tests compare them).

use crate::engine::Ctx;
use crate::{try_vec, zeroed_vec, Result};

/// Rows of `x` per micro-panel (broadcast values).
const MR: usize = 6;
/// Rows of `y` per micro-panel (SIMD lanes: two AVX2 registers of four float64).
const NR: usize = 8;
/// Values of `k` per block of the micro-kernel (the panels' slices stay in L1/L2 while used).
const KC: usize = 256;
/// Rows and columns of an output tile, the unit of parallel work, at most (a multiple of `MR`
/// and `NR`). Smaller results have smaller tiles ([`tile_size`]).
const TILE: usize = 96;
/// Tile sizes are multiples of this (the least common multiple of `MR` and `NR`).
const TILE_STEP: usize = 24;
/// Tiles are made smaller until a result has this many (or they are [`TILE_STEP`] wide): enough
/// tasks for the threads to share evenly, where a few tiles of unequal sizes (the edge ones are
/// cut short) would leave a thread idle.
const MIN_TILES: usize = 8;
/// Float64 values packed per packing task.
const PACK_CHUNK: usize = 1 << 16;

/// A distance metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `sqrt(Σ (x_k − y_k)²)`.
    Euclidean,
    /// `Σ (x_k − y_k)²`.
    SqEuclidean,
    /// `Σ |x_k − y_k|`.
    Cityblock,
    /// `1 − x·y / (‖x‖ ‖y‖)`.
    Cosine,
}

impl Metric {
    /// The metrics' names, as `cdist` spells them.
    pub const NAMES: [&'static str; 4] = ["euclidean", "sqeuclidean", "cityblock", "cosine"];

    /// The metric called `name` (exact, lower-case), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "euclidean" => Some(Self::Euclidean),
            "sqeuclidean" => Some(Self::SqEuclidean),
            "cityblock" => Some(Self::Cityblock),
            "cosine" => Some(Self::Cosine),
            _ => None,
        }
    }
}

/// An input element type: converted to float64 exactly as NumPy's `astype(np.float64)` does
/// (integers round to nearest above 2⁵³).
pub trait Input: Copy + Send + Sync + 'static {
    /// The value as float64.
    fn to_f64(self) -> f64;
}

macro_rules! input_lossless {
    ($($t:ty),*) => {$(
        impl Input for $t {
            #[inline(always)]
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
        }
    )*};
}
input_lossless!(f64, f32, i8, i16, i32, u8, u16, u32);

macro_rules! input_rounded {
    ($($t:ty),*) => {$(
        impl Input for $t {
            #[inline(always)]
            #[allow(clippy::cast_precision_loss)]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
input_rounded!(i64, u64);

/// An output element type: float64, or float32 (each distance rounded once from float64).
pub trait Output: Copy + Send + Sync + 'static {
    /// The float64 result as this type.
    fn from_f64(v: f64) -> Self;
}

impl Output for f64 {
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl Output for f32 {
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

/// One term of a sum: how `x_k` and `y_k` update the running value `s`.
trait Step: Copy + Send + Sync {
    /// Which step this is (for the explicit-SIMD micro-kernel).
    const KIND: Kind;
    fn step(s: f64, x: f64, y: f64) -> f64;
}

/// The three kinds of [`Step`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    SquaredDiff,
    AbsDiff,
    Product,
}

/// `fma(t, t, s)` with `t = x − y`.
#[derive(Clone, Copy)]
struct SquaredDiff;
impl Step for SquaredDiff {
    const KIND: Kind = Kind::SquaredDiff;
    #[inline(always)]
    fn step(s: f64, x: f64, y: f64) -> f64 {
        let t = x - y;
        t.mul_add(t, s)
    }
}

/// `s + |x − y|`.
#[derive(Clone, Copy)]
struct AbsDiff;
impl Step for AbsDiff {
    const KIND: Kind = Kind::AbsDiff;
    #[inline(always)]
    fn step(s: f64, x: f64, y: f64) -> f64 {
        s + (x - y).abs()
    }
}

/// `fma(x, y, s)`.
#[derive(Clone, Copy)]
struct Product;
impl Step for Product {
    const KIND: Kind = Kind::Product;
    #[inline(always)]
    fn step(s: f64, x: f64, y: f64) -> f64 {
        x.mul_add(y, s)
    }
}

/// The running sums of one micro-tile: `MR` rows of `x` × `NR` rows of `y`.
type Block = [[f64; NR]; MR];

/// The micro-kernel: `kc` terms (`xp`: `kc × MR`, `yp`: `kc × NR`, both `k`-major) added to `acc`.
#[inline(always)]
fn micro<S: Step>(xp: &[f64], yp: &[f64], acc: &mut Block) {
    let mut a = *acc;
    for (xk, yk) in xp.chunks_exact(MR).zip(yp.chunks_exact(NR)) {
        for (row, &xv) in a.iter_mut().zip(xk) {
            for (s, &yv) in row.iter_mut().zip(yk) {
                *s = S::step(*s, xv, yv);
            }
        }
    }
    *acc = a;
}

/// The micro-kernel in AVX2 + FMA intrinsics: the `MR × NR` sums in twelve registers (two
/// vectors of four per row of `x`), each `x_k` broadcast, the same operations as [`micro`] in the
/// same order (`vsubpd` then `vfmadd` for a squared difference, `vandnpd` of the sign for `|·|`).
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn micro_avx2<S: Step>(xp: &[f64], yp: &[f64], acc: &mut Block) {
    use std::arch::x86_64::{
        __m256d, _mm256_add_pd, _mm256_andnot_pd, _mm256_broadcast_sd, _mm256_fmadd_pd, _mm256_loadu_pd,
        _mm256_set1_pd, _mm256_storeu_pd, _mm256_sub_pd,
    };
    let kc = (xp.len() / MR).min(yp.len() / NR);
    let sign = _mm256_set1_pd(-0.0);
    // SAFETY (every load and store below): `acc` rows hold NR = 8 values (two vectors of four);
    // `xp` holds `kc * MR` values and `yp` `kc * NR` (`kc` is the smaller of the two counts), so
    // `k * NR + 4 + 3 < kc * NR` and `k * MR + r < kc * MR` for `k < kc`, `r < MR`.
    unsafe {
        let mut a: [[__m256d; 2]; MR] = [[_mm256_set1_pd(0.0); 2]; MR];
        for (v, row) in a.iter_mut().zip(acc.iter()) {
            v[0] = _mm256_loadu_pd(row.as_ptr());
            v[1] = _mm256_loadu_pd(row.as_ptr().add(4));
        }
        let (px, py) = (xp.as_ptr(), yp.as_ptr());
        for k in 0..kc {
            let y0 = _mm256_loadu_pd(py.add(k * NR));
            let y1 = _mm256_loadu_pd(py.add(k * NR + 4));
            for (r, v) in a.iter_mut().enumerate() {
                let xb = _mm256_broadcast_sd(&*px.add(k * MR + r));
                match S::KIND {
                    Kind::SquaredDiff => {
                        let t0 = _mm256_sub_pd(xb, y0);
                        let t1 = _mm256_sub_pd(xb, y1);
                        v[0] = _mm256_fmadd_pd(t0, t0, v[0]);
                        v[1] = _mm256_fmadd_pd(t1, t1, v[1]);
                    }
                    Kind::AbsDiff => {
                        v[0] = _mm256_add_pd(v[0], _mm256_andnot_pd(sign, _mm256_sub_pd(xb, y0)));
                        v[1] = _mm256_add_pd(v[1], _mm256_andnot_pd(sign, _mm256_sub_pd(xb, y1)));
                    }
                    Kind::Product => {
                        v[0] = _mm256_fmadd_pd(xb, y0, v[0]);
                        v[1] = _mm256_fmadd_pd(xb, y1, v[1]);
                    }
                }
            }
        }
        for (v, row) in a.iter().zip(acc.iter_mut()) {
            _mm256_storeu_pd(row.as_mut_ptr(), v[0]);
            _mm256_storeu_pd(row.as_mut_ptr().add(4), v[1]);
        }
    }
}

/// One input packed into micro-panels of `width` rows (`k`-major, zero-padded), in groups.
struct Packed {
    groups: Vec<Vec<f64>>,
    panels_per_group: usize,
    width: usize,
    d: usize,
}

impl Packed {
    /// Packs the `rows × d` row-major matrix `a` into panels of `width` rows, in parallel.
    fn new<T: Input>(ctx: &Ctx<'_>, a: &[T], rows: usize, d: usize, width: usize) -> Result<Self> {
        let panels = rows.div_ceil(width);
        let panel_len = width * d;
        let panels_per_group = (PACK_CHUNK / panel_len.max(1)).max(1);
        let group_count = panels.div_ceil(panels_per_group);
        let groups = ctx.map_tasks(group_count, |g| -> Result<Vec<f64>> {
            let first = g * panels_per_group;
            let count = panels_per_group.min(panels - first);
            let mut buf: Vec<f64> = zeroed_vec(count * panel_len, "the packed rows")?;
            for (p, panel) in buf.chunks_exact_mut(panel_len.max(1)).enumerate().take(count) {
                let row0 = (first + p) * width;
                for r in 0..width.min(rows - row0) {
                    let src = &a[(row0 + r) * d..(row0 + r + 1) * d];
                    for (k, v) in src.iter().enumerate() {
                        panel[k * width + r] = v.to_f64();
                    }
                }
            }
            Ok(buf)
        })?;
        let groups = groups.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(Self {
            groups,
            panels_per_group,
            width,
            d,
        })
    }

    /// Panel `p`, values `k0 .. k0 + kc` (`kc × width` values).
    #[inline(always)]
    fn slice(&self, p: usize, k0: usize, kc: usize) -> &[f64] {
        let g = &self.groups[p / self.panels_per_group];
        let start = (p % self.panels_per_group) * self.width * self.d + k0 * self.width;
        &g[start..start + kc * self.width]
    }
}

/// Everything a tile needs.
struct Job<'a> {
    xp: &'a Packed,
    yp: &'a Packed,
    n: usize,
    m: usize,
    d: usize,
    /// Rows and columns of a tile: a multiple of [`TILE_STEP`], at most [`TILE`].
    tile: usize,
}

/// The tile size for an `n × m` result (`symmetric`: `x` against itself, the tiles on and above
/// the diagonal only): the largest multiple of [`TILE_STEP`] up to [`TILE`] that cuts it into
/// [`MIN_TILES`] tiles or more, else the smallest. The distances do not depend on it (each is
/// one sum over `k` in order, whatever the tiling).
fn tile_size(n: usize, m: usize, symmetric: bool) -> usize {
    let tiles = |t: usize| {
        let (tn, tm) = (n.div_ceil(t), m.div_ceil(t));
        if symmetric {
            tn * (tn + 1) / 2
        } else {
            tn.saturating_mul(tm)
        }
    };
    (1..=TILE / TILE_STEP)
        .rev()
        .map(|k| k * TILE_STEP)
        .find(|&t| tiles(t) >= MIN_TILES)
        .unwrap_or(TILE_STEP)
}

/// The sums of tile `(bi, bj)` into `acc` (`x` panels × `y` panels of the tile, row-major),
/// with the micro-kernel `micro`.
#[inline(always)]
fn tile_sums(
    ctx: &Ctx<'_>,
    job: &Job<'_>,
    bi: usize,
    bj: usize,
    acc: &mut [Block],
    micro: impl Fn(&[f64], &[f64], &mut Block),
) -> Result<()> {
    let (xps, yps) = tile_panels(job, bi, bj);
    let (x0, y0) = (bi * job.tile / MR, bj * job.tile / NR);
    let mut k0 = 0;
    while k0 < job.d {
        let kc = KC.min(job.d - k0);
        for jp in 0..yps {
            let ys = job.yp.slice(y0 + jp, k0, kc);
            for ip in 0..xps {
                let xs = job.xp.slice(x0 + ip, k0, kc);
                micro(xs, ys, &mut acc[ip * yps + jp]);
            }
        }
        k0 += kc;
        ctx.check()?;
    }
    Ok(())
}

/// The number of `x` and `y` micro-panels in tile `(bi, bj)`.
#[inline(always)]
fn tile_panels(job: &Job<'_>, bi: usize, bj: usize) -> (usize, usize) {
    let t = job.tile;
    let rows = t.min(job.n - bi * t);
    let cols = t.min(job.m - bj * t);
    (rows.div_ceil(MR), cols.div_ceil(NR))
}

/// [`tile_job`] with the AVX2 + FMA micro-kernel, compiled for AVX2 + FMA.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_job_fma<S: Step, O: Output>(
    ctx: &Ctx<'_>,
    job: &Job<'_>,
    tile: Tile,
    norms: &Norms<'_>,
    dst: OutPtr<O>,
) -> Result<()> {
    // SAFETY: this function runs only where AVX2 and FMA are available (its contract).
    tile_job(ctx, job, tile, norms, dst, |x, y, a| unsafe {
        micro_avx2::<S>(x, y, a)
    })
}

/// True when the AVX2 + FMA build may run (and tests have not pinned the baseline).
fn fma_enabled() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::simd::avx2_enabled() && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`tile_job`] for the best instruction set of this CPU (the same bits on every path).
fn dispatch_tile<S: Step, O: Output>(
    ctx: &Ctx<'_>,
    job: &Job<'_>,
    tile: Tile,
    norms: &Norms<'_>,
    dst: OutPtr<O>,
) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    {
        if fma_enabled() {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { tile_job_fma::<S, O>(ctx, job, tile, norms, dst) };
        }
    }
    tile_job(ctx, job, tile, norms, dst, micro::<S>)
}

/// A raw pointer to the output that tiles write through; tiles write disjoint elements.
#[derive(Clone, Copy)]
struct OutPtr<O>(*mut O);
// SAFETY: each tile writes only its own elements (and their mirror images, which no other tile
// writes), of one live buffer that outlives the parallel phase.
unsafe impl<O: Send> Send for OutPtr<O> {}
// SAFETY: as above.
unsafe impl<O: Send> Sync for OutPtr<O> {}

impl<O> OutPtr<O> {
    /// Writes `v` at elements `i .. i + v.len()`.
    ///
    /// # Safety
    ///
    /// Those elements inside the buffer, and no other thread reads or writes them meanwhile.
    #[inline(always)]
    unsafe fn write_row(self, i: usize, v: &[O]) {
        // SAFETY: forwarded from the contract; `v` is a local array, distinct from the buffer.
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), self.0.add(i), v.len()) }
    }
}

/// The row norms for `cosine` (empty for the other metrics), padded with ones to whole tiles.
struct Norms<'a> {
    nx: &'a [f64],
    ny: &'a [f64],
}

/// One output tile.
#[derive(Clone, Copy)]
struct Tile {
    bi: usize,
    bj: usize,
    symmetric: bool,
    metric: Metric,
}

/// The distances of one row of a micro-tile from their sums (`ny`: the norms of its `NR`
/// columns, `nxi` the row's): written lane by lane, so that it vectorizes.
#[inline(always)]
fn finish_row(metric: Metric, sums: &[f64; NR], nxi: f64, ny: &[f64]) -> [f64; NR] {
    let mut v = *sums;
    match metric {
        Metric::Euclidean => {
            for s in &mut v {
                *s = s.sqrt();
            }
        }
        Metric::SqEuclidean | Metric::Cityblock => {}
        Metric::Cosine => {
            for (s, &nyj) in v.iter_mut().zip(ny) {
                // |c| > 1 (rounding) is clipped to ±1; NaN stays NaN.
                let c = (*s / (nxi * nyj)).clamp(-1.0, 1.0);
                *s = 1.0 - c;
            }
        }
    }
    v
}

/// The sums of one tile, then its distances written into the output (and, for `x` against
/// itself off the diagonal, at the mirror positions).
#[inline(always)]
fn tile_job<O: Output>(
    ctx: &Ctx<'_>,
    job: &Job<'_>,
    tile: Tile,
    norms: &Norms<'_>,
    dst: OutPtr<O>,
    micro: impl Fn(&[f64], &[f64], &mut Block),
) -> Result<()> {
    let Tile {
        bi,
        bj,
        symmetric,
        metric,
    } = tile;
    let (n, m, t) = (job.n, job.m, job.tile);
    let (xps, yps) = tile_panels(job, bi, bj);
    let mut acc: Vec<Block> = zeroed_block_vec(xps * yps)?;
    tile_sums(ctx, job, bi, bj, &mut acc, micro)?;
    let mirror = symmetric && bi != bj;
    // The mirror image of an off-diagonal tile, transposed here first (row `c` holds column
    // `bj * t + c`), then written row by row: contiguous runs instead of scattered values.
    let (rows, cols_all) = (t.min(n - bi * t), t.min(m - bj * t));
    let mut mt: Vec<O> = Vec::new();
    if mirror {
        mt = try_vec(t * t, "a tile's mirror image")?;
        mt.resize(t * t, O::from_f64(0.0));
    }
    let ones = [1.0; NR];
    for ip in 0..xps {
        for jp in 0..yps {
            let block = &acc[ip * yps + jp];
            let j0 = bj * t + jp * NR;
            let cols = NR.min(m - j0);
            let ny = if metric == Metric::Cosine {
                &norms.ny[j0..j0 + NR]
            } else {
                &ones[..]
            };
            for (r, sums) in block.iter().enumerate() {
                let i = bi * t + ip * MR + r;
                if i >= n {
                    break;
                }
                let nxi = if metric == Metric::Cosine {
                    norms.nx[i]
                } else {
                    1.0
                };
                let mut v = finish_row(metric, sums, nxi, ny);
                if symmetric && (j0..j0 + cols).contains(&i) && !v[i - j0].is_nan() {
                    // The diagonal: exactly zero, as a distance from itself (NaN stays NaN).
                    v[i - j0] = 0.0;
                }
                let o: [O; NR] = v.map(O::from_f64);
                // SAFETY: `i < n` and `j0 + cols <= m`: inside the `n × m` output. Tile
                // `(bi, bj)` alone writes the elements of its rows and columns; with `y` absent,
                // tiles are taken with `bj >= bi` only, so the mirror image `(j, i)` of an
                // off-diagonal tile's element belongs to tile `(bj, bi)`, never computed.
                unsafe { dst.write_row(i * m + j0, &o[..cols]) };
                if mirror {
                    let col = i - bi * t;
                    for (c, &value) in o[..cols].iter().enumerate() {
                        mt[(jp * NR + c) * t + col] = value;
                    }
                }
            }
        }
    }
    if mirror {
        for c in 0..cols_all {
            let j = bj * t + c;
            // SAFETY: `j < m == n` (`y` absent) and `bi * t + rows <= n`: inside the output.
            // These are the mirror images `(j, i)` of this tile's elements, which belong to tile
            // `(bj, bi)`, never computed (tiles are taken with `bj >= bi` only); no other tile
            // writes them.
            unsafe { dst.write_row(j * m + bi * t, &mt[c * t..c * t + rows]) };
        }
    }
    Ok(())
}

/// The Euclidean norm of every row (`sqrt` of the fused sum of squares, in order), in parallel.
fn row_norms<T: Input>(ctx: &Ctx<'_>, a: &[T], rows: usize, d: usize) -> Result<Vec<f64>> {
    let per_task = (PACK_CHUNK / d.max(1)).max(1);
    let parts = ctx.map_tasks(rows.div_ceil(per_task), |t| -> Result<Vec<f64>> {
        let r0 = t * per_task;
        let r1 = rows.min(r0 + per_task);
        let mut v = try_vec(r1 - r0, "the row norms")?;
        for r in r0..r1 {
            let s = a[r * d..(r + 1) * d].iter().fold(0.0f64, |s, x| {
                let x = x.to_f64();
                x.mul_add(x, s)
            });
            v.push(s.sqrt());
        }
        Ok(v)
    })?;
    let padded = rows.div_ceil(TILE) * TILE;
    let mut out = try_vec(padded, "the row norms")?;
    for p in parts {
        out.extend_from_slice(&p?);
    }
    out.resize(padded, 1.0);
    Ok(out)
}

/// Writes the distances between the rows of `x` (`n × d`, row-major) and those of `y`
/// (`m × d`; `None`: `x` itself) into `out` (`n × m`, row-major).
///
/// # Errors
///
/// [`crate::Error::OutOfMemory`] if the packed copies of the inputs cannot be allocated;
/// [`crate::Error::Cancelled`] on Ctrl-C (the output is then partly written).
///
/// # Panics
///
/// If a slice's length is not the product of its dimensions.
pub fn pairwise_into<Tx: Input, Ty: Input, O: Output>(
    ctx: &Ctx<'_>,
    x: &[Tx],
    n: usize,
    y: Option<(&[Ty], usize)>,
    d: usize,
    metric: Metric,
    out: &mut [O],
) -> Result<()> {
    pairwise_tiled(ctx, x, n, y, d, metric, out, 0)
}

/// [`pairwise_into`] with tiles of `tile` rows and columns (a multiple of [`TILE_STEP`] up to
/// [`TILE`]), or of [`tile_size`]'s choice for `tile == 0` (tests check that it does not
/// matter).
#[allow(clippy::too_many_arguments)]
fn pairwise_tiled<Tx: Input, Ty: Input, O: Output>(
    ctx: &Ctx<'_>,
    x: &[Tx],
    n: usize,
    y: Option<(&[Ty], usize)>,
    d: usize,
    metric: Metric,
    out: &mut [O],
    tile: usize,
) -> Result<()> {
    debug_assert!(tile.is_multiple_of(TILE_STEP) && tile <= TILE);
    let symmetric = y.is_none();
    let m = y.map_or(n, |(_, m)| m);
    assert_eq!(Some(x.len()), n.checked_mul(d), "pairwise: x is not n × d");
    if let Some((y, m)) = y {
        assert_eq!(Some(y.len()), m.checked_mul(d), "pairwise: y is not m × d");
    }
    assert_eq!(Some(out.len()), n.checked_mul(m), "pairwise: out is not n × m");
    ctx.check()?;
    if n == 0 || m == 0 {
        return Ok(());
    }
    let xp = Packed::new(ctx, x, n, d, MR)?;
    let yp = match y {
        Some((y, _)) => Packed::new(ctx, y, m, d, NR)?,
        None => Packed::new(ctx, x, n, d, NR)?,
    };
    let (nx, ny) = if metric == Metric::Cosine {
        let nx = row_norms(ctx, x, n, d)?;
        let ny = match y {
            Some((y, _)) => row_norms(ctx, y, m, d)?,
            None => nx.clone(),
        };
        (nx, ny)
    } else {
        (Vec::new(), Vec::new())
    };
    let tile = match tile {
        // One thread has nobody to share with: the largest tiles, the least overhead.
        0 if ctx.team_size() == 1 => TILE,
        0 => tile_size(n, m, symmetric),
        t => t,
    };
    let job = Job {
        xp: &xp,
        yp: &yp,
        n,
        m,
        d,
        tile,
    };
    let (tn, tm) = (n.div_ceil(tile), m.div_ceil(tile));
    // The tiles, row by row; for `x` against itself only those on and above the diagonal.
    let mut tiles: Vec<(usize, usize)> = try_vec(
        if symmetric { tn * (tn + 1) / 2 } else { tn * tm },
        "the tile list",
    )?;
    for bi in 0..tn {
        for bj in (if symmetric { bi } else { 0 })..tm {
            tiles.push((bi, bj));
        }
    }
    let dst = OutPtr(out.as_mut_ptr());
    let norms = Norms { nx: &nx, ny: &ny };
    let results = ctx.map_tasks(tiles.len(), |t| -> Result<()> {
        let (bi, bj) = tiles[t];
        let tile = Tile {
            bi,
            bj,
            symmetric,
            metric,
        };
        match metric {
            Metric::Euclidean | Metric::SqEuclidean => {
                dispatch_tile::<SquaredDiff, O>(ctx, &job, tile, &norms, dst)
            }
            Metric::Cityblock => dispatch_tile::<AbsDiff, O>(ctx, &job, tile, &norms, dst),
            Metric::Cosine => dispatch_tile::<Product, O>(ctx, &job, tile, &norms, dst),
        }
    })?;
    results.into_iter().collect()
}

/// A vector of `len` zeroed blocks, fallibly allocated.
fn zeroed_block_vec(len: usize) -> Result<Vec<Block>> {
    let mut v = try_vec(len, "a tile's running sums")?;
    v.resize(len, [[0.0; NR]; MR]);
    Ok(v)
}

/// The `n × m` distances in a new, fallibly allocated vector (see [`pairwise_into`]).
///
/// # Errors
///
/// As [`pairwise_into`], and [`crate::Error::OutOfMemory`] for the output.
pub fn pairwise<Tx: Input, Ty: Input, O: Output + crate::Zeroable>(
    ctx: &Ctx<'_>,
    x: &[Tx],
    n: usize,
    y: Option<(&[Ty], usize)>,
    d: usize,
    metric: Metric,
) -> Result<Vec<O>> {
    let m = y.map_or(n, |(_, m)| m);
    let len = n.checked_mul(m).ok_or_else(|| {
        crate::Error::Overflow(format!("a {n} x {m} result does not fit in the address space"))
    })?;
    let mut out: Vec<O> = zeroed_vec(len, "the distance matrix")?;
    pairwise_into(ctx, x, n, y, d, metric, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod test;
