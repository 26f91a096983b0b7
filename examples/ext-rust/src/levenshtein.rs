//! The kernel, in plain Rust: Levenshtein distances between strings of Unicode code points.
//!
//! Nothing here knows about Python. The binding (`lib.rs`) turns Python's `str` objects into
//! [`Chars`] with the GIL held, then runs [`matrix`] or [`pairs`] inside one gilfree call, which
//! hands them a [`Ctx`]: the shared pool, the call's cancel flag (Ctrl-C), and its thread setting.
//!
//! # The algorithm
//!
//! Myers' bit-parallel algorithm (1999) in Hyyrö's formulation (2003), blocked for patterns
//! longer than 64 characters: one column of the dynamic-programming table costs one 64-bit word
//! step per 64 characters of the pattern, instead of one step per character. The result is the
//! exact Levenshtein distance (insertions, deletions, substitutions, each of cost 1), the same as
//! the textbook O(m·n) table (the unit tests check it against one).
//!
//! Each step waits for the previous one (a chain of dependent integer operations), so the matrix
//! runs one pattern against two texts at a time: two independent chains, interleaved, keep the
//! CPU about twice as busy. That, and looking up characters below 256 in a direct table, is all
//! the tuning there is.
//!
//! # Cancellation
//!
//! A pair of long strings can take seconds, so the kernel does not rely on the checks that
//! [`Ctx::map_tasks`] makes between tasks: it counts its own work (one unit per word step) and
//! calls [`Ctx::checkpoint`] every [`CHECK_EVERY`] units, well under a millisecond. That is what
//! makes Ctrl-C stop a call within the 0.5 s the runtime promises, whatever the string lengths.
//!
//! # Determinism
//!
//! Every entry is an exact integer computed by one task; the task boundaries depend on the string
//! lengths only. The output is the same at any thread count (and the tests check it).

use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use crate::engine::{self, Ctx, Error, Result};

/// One string as Unicode code points (what Python's `len` and indexing count).
pub type Chars = Vec<u32>;

/// Bits per word of the bit-parallel algorithm.
const WORD: usize = 64;

/// Units of work between two cancellation checks. A unit is one word step (a dozen integer
/// instructions, a few nanoseconds), so this is about 0.1-0.5 ms of work.
pub const CHECK_EVERY: u64 = 1 << 16;

/// The fixed cost of one pair, in units, whatever the lengths (lookups, bookkeeping).
const PAIR_COST: u64 = 4;

/// Task sizes in units: about 1/1024 of the whole call, within these bounds. Depends on the
/// input only (never on the thread count).
const MIN_TASK: u64 = 1 << 16;
const MAX_TASK: u64 = 1 << 26;
const TASKS_HINT: u64 = 1024;

/// Below this much work a call stays on the calling thread: waking pool workers would cost more.
const PARALLEL_MIN: u64 = 1 << 15;

/// Words of the bit-parallel state for a pattern of `len` characters (at least one).
fn words(len: usize) -> usize {
    len.div_ceil(WORD).max(1)
}

/// The cost of one pair, in units (see [`CHECK_EVERY`]): one word step per pattern word and text
/// character.
fn cost(pattern_len: usize, text_len: usize) -> u64 {
    (words(pattern_len) as u64)
        .saturating_mul(text_len as u64)
        .saturating_add(PAIR_COST)
}

/// Counts the work done on one task and checks for cancellation every [`CHECK_EVERY`] units.
struct Budget<'c, 'a> {
    ctx: &'c Ctx<'a>,
    left: u64,
}

impl<'c, 'a> Budget<'c, 'a> {
    fn new(ctx: &'c Ctx<'a>) -> Self {
        Budget {
            ctx,
            left: CHECK_EVERY,
        }
    }

    /// Records `units` of work; `Err(Cancelled)` if the call should stop.
    #[inline]
    fn spend(&mut self, units: u64) -> Result<()> {
        if units < self.left {
            self.left -= units;
            Ok(())
        } else {
            self.left = CHECK_EVERY;
            // On the calling thread (threads=1) this also lets Python run its SIGINT handler.
            self.ctx.checkpoint()
        }
    }
}

/// Where the bits of one character of the pattern live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mask {
    /// The character does not occur in the pattern: all its bits are zero.
    Absent,
    /// A frequent character: its `words` mask words are stored, at this index.
    Dense(u32),
    /// A rare character: its positions are listed (`Pattern::spans[index]`); the mask is built
    /// in a scratch buffer when a text character needs it. Rare means fewer occurrences than half
    /// the number of words, so building and clearing it costs less than the column itself, and
    /// the pattern takes O(length) memory whatever its alphabet.
    Sparse(u32),
}

/// The bit masks of one string, the *pattern* of the bit-parallel algorithm: for a character
/// `c`, bit `k` of word `w` is set when the pattern's character `64 * w + k` is `c`.
///
/// Reusable: [`Pattern::set`] keeps the allocations of the previous string.
#[derive(Debug)]
struct Pattern {
    len: usize,
    words: usize,
    /// The class of each character below 256 (most text), by direct lookup.
    latin1: [Mask; 256],
    /// For patterns of one word: the mask of each character below 256, by direct lookup (the
    /// hot loop of short strings then loads one word per character, nothing else).
    latin1_masks: [u64; 256],
    /// The other characters of the pattern, sorted, with their class.
    others: Vec<(u32, Mask)>,
    /// `words` mask words per dense character.
    dense: Vec<u64>,
    /// The positions of the sparse characters, grouped by character; `spans` indexes them.
    positions: Vec<u32>,
    spans: Vec<Range<u32>>,
    /// A sorted copy of the pattern (to count the characters).
    sorted: Vec<u32>,
}

impl Default for Pattern {
    fn default() -> Self {
        Pattern {
            len: 0,
            words: 1,
            latin1: [Mask::Absent; 256],
            latin1_masks: [0; 256],
            others: Vec::new(),
            dense: Vec::new(),
            positions: Vec::new(),
            spans: Vec::new(),
            sorted: Vec::new(),
        }
    }
}

/// Grows `v` to `n` elements of `value` (after clearing it), failing with `OutOfMemory`.
fn refill<T: Copy>(v: &mut Vec<T>, n: usize, value: T, what: &str) -> Result<()> {
    v.clear();
    v.try_reserve_exact(n)
        .map_err(|_| Error::OutOfMemory(format!("cannot allocate {what} ({n} elements)")))?;
    v.resize(n, value);
    Ok(())
}

/// `v.push(x)`, failing with `OutOfMemory` instead of aborting.
fn push<T>(v: &mut Vec<T>, x: T, what: &str) -> Result<()> {
    v.try_reserve(1)
        .map_err(|_| Error::OutOfMemory(format!("cannot allocate {what}")))?;
    v.push(x);
    Ok(())
}

impl Pattern {
    /// Makes this the pattern of `s`.
    fn set(&mut self, s: &[u32]) -> Result<()> {
        if u32::try_from(s.len()).is_err() {
            return Err(Error::Overflow(format!(
                "a string of {} characters is too long for uint32 distances",
                s.len()
            )));
        }
        let words = words(s.len());
        self.len = s.len();
        self.words = words;
        self.latin1 = [Mask::Absent; 256];
        self.others.clear();
        self.spans.clear();

        // Count each distinct character: sort a copy and walk its runs.
        self.sorted.clear();
        self.sorted.try_reserve_exact(s.len()).map_err(|_| {
            Error::OutOfMemory(format!(
                "cannot allocate a copy of a {}-character string",
                s.len()
            ))
        })?;
        self.sorted.extend_from_slice(s);
        self.sorted.sort_unstable();
        let (mut n_dense, mut n_sparse_positions) = (0u32, 0u32);
        let mut run = 0;
        while run < self.sorted.len() {
            let c = self.sorted[run];
            let count = self.sorted[run..].iter().take_while(|&&x| x == c).count();
            run += count;
            let class = if 2 * count >= words {
                n_dense += 1;
                Mask::Dense(n_dense - 1)
            } else {
                // `count` and the running total are at most `s.len()`, which fits in u32.
                let start = n_sparse_positions;
                n_sparse_positions = n_sparse_positions.saturating_add(count as u32);
                push(&mut self.spans, start..start, "a string's character table")?;
                Mask::Sparse(self.spans.len() as u32 - 1)
            };
            match usize::try_from(c) {
                Ok(i) if i < 256 => self.latin1[i] = class,
                // `sorted` is sorted, so `others` is too.
                _ => push(&mut self.others, (c, class), "a string's character table")?,
            }
        }

        refill(
            &mut self.dense,
            n_dense as usize * words,
            0,
            "a string's bit masks",
        )?;
        refill(
            &mut self.positions,
            n_sparse_positions as usize,
            0,
            "a string's character positions",
        )?;
        for (pos, &c) in s.iter().enumerate() {
            match self.lookup(c) {
                Mask::Dense(k) => self.dense[k as usize * words + pos / WORD] |= 1 << (pos % WORD),
                Mask::Sparse(k) => {
                    let span = &mut self.spans[k as usize];
                    self.positions[span.end as usize] = pos as u32;
                    span.end += 1;
                }
                Mask::Absent => {} // every character of `s` was classified above
            }
        }
        if words == 1 {
            for (mask, class) in self.latin1_masks.iter_mut().zip(&self.latin1) {
                *mask = match class {
                    Mask::Dense(k) => self.dense[*k as usize],
                    Mask::Sparse(_) | Mask::Absent => 0,
                };
            }
        }
        Ok(())
    }

    /// For a pattern of one word: the mask of character `c`.
    #[inline(always)]
    fn mask1(&self, c: u32) -> u64 {
        if c < 256 {
            self.latin1_masks[c as usize]
        } else {
            match self.lookup(c) {
                Mask::Dense(k) => self.dense[k as usize],
                // With one word every character of the pattern is dense.
                Mask::Sparse(_) | Mask::Absent => 0,
            }
        }
    }

    /// The class of character `c`.
    #[inline(always)]
    fn lookup(&self, c: u32) -> Mask {
        if c < 256 {
            self.latin1[c as usize]
        } else {
            match self.others.binary_search_by_key(&c, |&(x, _)| x) {
                Ok(i) => self.others[i].1,
                Err(_) => Mask::Absent,
            }
        }
    }
}

/// The state of the blocked algorithm for one text: the column's vertical deltas, the mask of
/// a sparse character (built for one column and cleared after it), and the distance so far.
#[derive(Debug, Default)]
struct Column {
    vp: Vec<u64>,
    vn: Vec<u64>,
    sparse: Vec<u64>,
    dist: u64,
}

impl Column {
    /// The state before the first text character, for `p`.
    fn reset(&mut self, p: &Pattern) -> Result<()> {
        refill(&mut self.vp, p.words, !0, "the distance state")?;
        refill(&mut self.vn, p.words, 0, "the distance state")?;
        if self.sparse.len() != p.words {
            refill(&mut self.sparse, p.words, 0, "the distance state")?;
        }
        self.dist = p.len as u64;
        Ok(())
    }

    /// Builds the mask of `class` if it is a sparse character; returns the positions to clear.
    #[inline(always)]
    fn set_sparse<'p>(&mut self, p: &'p Pattern, class: Mask) -> &'p [u32] {
        let Mask::Sparse(k) = class else { return &[] };
        let span = &p.spans[k as usize];
        let positions = &p.positions[span.start as usize..span.end as usize];
        for &pos in positions {
            self.sparse[pos as usize / WORD] |= 1 << (pos as usize % WORD);
        }
        positions
    }

    #[inline(always)]
    fn clear_sparse(&mut self, positions: &[u32]) {
        for &pos in positions {
            self.sparse[pos as usize / WORD] = 0;
        }
    }
}

/// The state of the bit-parallel algorithm for one pattern, reused from pair to pair: two
/// texts' columns (see [`blocked_x2`]) and the mask of an absent character.
#[derive(Debug, Default)]
struct Scratch {
    a: Column,
    b: Column,
    zeros: Vec<u64>,
}

impl Scratch {
    fn reset(&mut self, p: &Pattern, both: bool) -> Result<()> {
        self.a.reset(p)?;
        if both {
            self.b.reset(p)?;
        }
        if self.zeros.len() != p.words {
            refill(&mut self.zeros, p.words, 0, "the distance state")?;
        }
        Ok(())
    }
}

/// The masks of a character of class `class`, for a text whose sparse buffer is `sparse`.
#[inline(always)]
fn masks<'a>(p: &'a Pattern, class: Mask, sparse: &'a [u64], zeros: &'a [u64]) -> &'a [u64] {
    match class {
        Mask::Dense(k) => {
            let start = k as usize * p.words;
            &p.dense[start..start + p.words]
        }
        Mask::Sparse(_) => sparse,
        Mask::Absent => zeros,
    }
}

/// The Levenshtein distance between `pattern` and `text`.
///
/// # Errors
///
/// [`Error::Cancelled`] if the call was cancelled meanwhile, [`Error::OutOfMemory`] if the state
/// could not be allocated, [`Error::Overflow`] if the distance does not fit in `u32`.
fn distance(
    pattern: &Pattern,
    text: &[u32],
    scratch: &mut Scratch,
    budget: &mut Budget<'_, '_>,
) -> Result<u32> {
    budget.spend(PAIR_COST)?;
    let dist = if pattern.len == 0 {
        text.len() as u64
    } else if pattern.len <= WORD {
        one_word(pattern, text, budget)?
    } else {
        blocked(pattern, text, scratch, budget)?
    };
    to_u32(dist)
}

/// The state of the one-word algorithm for one text: the column's vertical deltas and the
/// distance so far.
struct Lane {
    vp: u64,
    vn: u64,
    dist: u64,
}

impl Lane {
    fn new(pattern_len: usize) -> Self {
        Lane {
            vp: !0,
            vn: 0,
            dist: pattern_len as u64,
        }
    }

    /// One text character, whose mask in the pattern is `x`; `last` is the pattern's last bit.
    #[inline(always)]
    fn step(&mut self, x: u64, last: u64) {
        let (vp, vn) = (self.vp, self.vn);
        let d0 = ((x & vp).wrapping_add(vp) ^ vp) | x | vn;
        let hp = vn | !(d0 | vp);
        let hn = d0 & vp;
        // The distance never goes below zero: it is the table's bottom entry of this column.
        self.dist = (self.dist + u64::from(hp & last != 0)).wrapping_sub(u64::from(hn & last != 0));
        let hp = (hp << 1) | 1;
        let hn = hn << 1;
        self.vp = hn | !(d0 | hp);
        self.vn = hp & d0;
    }

    /// Every character of `text`, checking for cancellation every [`CHECK_EVERY`] of them.
    fn run(&mut self, p: &Pattern, text: &[u32], last: u64, budget: &mut Budget<'_, '_>) -> Result<()> {
        for chunk in text.chunks(CHECK_EVERY as usize) {
            for &c in chunk {
                self.step(p.mask1(c), last);
            }
            budget.spend(chunk.len() as u64)?;
        }
        Ok(())
    }
}

/// Patterns of at most 64 characters: the whole column in one word.
fn one_word(p: &Pattern, text: &[u32], budget: &mut Budget<'_, '_>) -> Result<u64> {
    let last = 1u64 << (p.len - 1);
    let mut lane = Lane::new(p.len);
    lane.run(p, text, last, budget)?;
    Ok(lane.dist)
}

/// [`one_word`] for two texts at once. One text's steps form a chain, each waiting for the
/// previous one; two independent chains interleaved keep the CPU busy about twice as well.
fn one_word_x2(p: &Pattern, t1: &[u32], t2: &[u32], budget: &mut Budget<'_, '_>) -> Result<(u64, u64)> {
    let last = 1u64 << (p.len - 1);
    let (mut a, mut b) = (Lane::new(p.len), Lane::new(p.len));
    let common = t1.len().min(t2.len());
    let chunk = CHECK_EVERY as usize / 2;
    for (c1, c2) in t1[..common].chunks(chunk).zip(t2[..common].chunks(chunk)) {
        for (&x, &y) in c1.iter().zip(c2) {
            a.step(p.mask1(x), last);
            b.step(p.mask1(y), last);
        }
        budget.spend(2 * c1.len() as u64)?;
    }
    a.run(p, &t1[common..], last, budget)?;
    b.run(p, &t2[common..], last, budget)?;
    Ok((a.dist, b.dist))
}

/// The distances between `pattern` and each of `texts`, into `out` (of the same length).
fn distances(
    pattern: &Pattern,
    texts: &[Chars],
    out: &mut [u32],
    scratch: &mut Scratch,
    budget: &mut Budget<'_, '_>,
) -> Result<()> {
    if pattern.len > 0 {
        let mut text_pairs = texts.chunks_exact(2);
        let mut out_pairs = out.chunks_exact_mut(2);
        for (t, o) in (&mut text_pairs).zip(&mut out_pairs) {
            budget.spend(2 * PAIR_COST)?;
            let (d1, d2) = if pattern.len <= WORD {
                one_word_x2(pattern, &t[0], &t[1], budget)?
            } else {
                blocked_x2(pattern, &t[0], &t[1], scratch, budget)?
            };
            (o[0], o[1]) = (to_u32(d1)?, to_u32(d2)?);
        }
        let (texts, out) = (text_pairs.remainder(), out_pairs.into_remainder());
        for (dst, text) in out.iter_mut().zip(texts) {
            *dst = distance(pattern, text, scratch, budget)?;
        }
        return Ok(());
    }
    for (dst, text) in out.iter_mut().zip(texts) {
        *dst = distance(pattern, text, scratch, budget)?; // the empty pattern
    }
    Ok(())
}

fn to_u32(dist: u64) -> Result<u32> {
    u32::try_from(dist).map_err(|_| Error::Overflow(format!("a distance of {dist} does not fit in uint32")))
}

/// Longer patterns: the column in `words` words, carries passed from one word to the next.
fn blocked(p: &Pattern, text: &[u32], s: &mut Scratch, budget: &mut Budget<'_, '_>) -> Result<u64> {
    s.reset(p, false)?;
    let last = 1u64 << ((p.len - 1) % WORD);
    run_blocked(p, text, &mut s.a, &s.zeros, last, budget)?;
    Ok(s.a.dist)
}

/// Every character of `text` on the column `col`.
fn run_blocked(
    p: &Pattern,
    text: &[u32],
    col: &mut Column,
    zeros: &[u64],
    last: u64,
    budget: &mut Budget<'_, '_>,
) -> Result<()> {
    for &c in text {
        let class = p.lookup(c);
        let positions = col.set_sparse(p, class);
        let m = masks(p, class, &col.sparse, zeros);
        let (hp, hn) = column(m, &mut col.vp, &mut col.vn, last);
        col.clear_sparse(positions);
        // The distance never goes below zero: it is the table's bottom entry of this column.
        col.dist = (col.dist + hp).wrapping_sub(hn);
        budget.spend(p.words as u64)?;
    }
    Ok(())
}

/// [`blocked`] for two texts at once: two independent chains of word steps, interleaved.
fn blocked_x2(
    p: &Pattern,
    t1: &[u32],
    t2: &[u32],
    s: &mut Scratch,
    budget: &mut Budget<'_, '_>,
) -> Result<(u64, u64)> {
    s.reset(p, true)?;
    let last = 1u64 << ((p.len - 1) % WORD);
    let common = t1.len().min(t2.len());
    let (a, b, zeros) = (&mut s.a, &mut s.b, &s.zeros);
    for (&c1, &c2) in t1[..common].iter().zip(&t2[..common]) {
        let (class1, class2) = (p.lookup(c1), p.lookup(c2));
        let (pos1, pos2) = (a.set_sparse(p, class1), b.set_sparse(p, class2));
        let (m1, m2) = (
            masks(p, class1, &a.sparse, zeros),
            masks(p, class2, &b.sparse, zeros),
        );
        let [(hp1, hn1), (hp2, hn2)] =
            column_x2([m1, m2], [&mut a.vp, &mut b.vp], [&mut a.vn, &mut b.vn], last);
        a.clear_sparse(pos1);
        b.clear_sparse(pos2);
        a.dist = (a.dist + hp1).wrapping_sub(hn1);
        b.dist = (b.dist + hp2).wrapping_sub(hn2);
        budget.spend(2 * p.words as u64)?;
    }
    run_blocked(p, &t1[common..], a, zeros, last, budget)?;
    run_blocked(p, &t2[common..], b, zeros, last, budget)?;
    Ok((a.dist, b.dist))
}

/// One step of one word: the word's masks `pm`, its vertical deltas `vp`/`vn` (updated), and
/// the horizontal carries into it (from the word below; row 0 grows by one per column, so the
/// first word gets `hp = 1`). Returns the word's horizontal deltas before the shift.
#[inline(always)]
fn word_step(pm: u64, vp: &mut u64, vn: &mut u64, hp_carry: u64, hn_carry: u64) -> (u64, u64) {
    let x = pm | hn_carry;
    let d0 = ((x & *vp).wrapping_add(*vp) ^ *vp) | x | *vn;
    let hp = *vn | !(d0 | *vp);
    let hn = d0 & *vp;
    let hp_shifted = (hp << 1) | hp_carry;
    let hn_shifted = (hn << 1) | hn_carry;
    *vp = hn_shifted | !(d0 | hp_shifted);
    *vn = hp_shifted & d0;
    (hp, hn)
}

/// One column of the blocked algorithm: updates the vertical deltas `vp`/`vn` of every word for
/// one text character whose pattern masks are `masks`, and returns whether the distance (the
/// bottom entry, bit `last` of the last word) goes up and whether it goes down.
#[inline(always)]
fn column(masks: &[u64], vp: &mut [u64], vn: &mut [u64], last: u64) -> (u64, u64) {
    let words = vp.len();
    let (mut hp_carry, mut hn_carry) = (1u64, 0u64);
    for (w, ((&pm, vp), vn)) in masks.iter().zip(vp.iter_mut()).zip(vn.iter_mut()).enumerate() {
        let (hp, hn) = word_step(pm, vp, vn, hp_carry, hn_carry);
        if w + 1 < words {
            (hp_carry, hn_carry) = (hp >> 63, hn >> 63);
        } else {
            (hp_carry, hn_carry) = (u64::from(hp & last != 0), u64::from(hn & last != 0));
        }
    }
    (hp_carry, hn_carry)
}

/// [`column`] for two texts: the same words, two independent carry chains.
#[inline(always)]
fn column_x2(masks: [&[u64]; 2], vp: [&mut [u64]; 2], vn: [&mut [u64]; 2], last: u64) -> [(u64, u64); 2] {
    let words = masks[0].len();
    let [m1, m2] = masks;
    let [vp1, vp2] = vp;
    let [vn1, vn2] = vn;
    let (m1, m2, vp1, vp2, vn1, vn2) = (
        &m1[..words],
        &m2[..words],
        &mut vp1[..words],
        &mut vp2[..words],
        &mut vn1[..words],
        &mut vn2[..words],
    );
    let mut carry = [(1u64, 0u64); 2];
    for w in 0..words {
        let (hp1, hn1) = word_step(m1[w], &mut vp1[w], &mut vn1[w], carry[0].0, carry[0].1);
        let (hp2, hn2) = word_step(m2[w], &mut vp2[w], &mut vn2[w], carry[1].0, carry[1].1);
        carry = if w + 1 < words {
            [(hp1 >> 63, hn1 >> 63), (hp2 >> 63, hn2 >> 63)]
        } else {
            [
                (u64::from(hp1 & last != 0), u64::from(hn1 & last != 0)),
                (u64::from(hp2 & last != 0), u64::from(hn2 & last != 0)),
            ]
        };
    }
    carry
}

/// The plain O(m·n) dynamic-programming table, for tests and as the definition.
#[cfg(test)]
fn reference(a: &[u32], b: &[u32]) -> u64 {
    let mut row: Vec<u64> = (0..=b.len() as u64).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i as u64 + 1;
        for (j, &cb) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = (up + 1).min(row[j] + 1).min(diag + u64::from(ca != cb));
            diag = up;
        }
    }
    row[b.len()]
}

// ---- the matrix ---------------------------------------------------------------------------

/// One task of [`matrix`]: string `row` against the strings `cols` (all after `row`), that is,
/// the entries `out[row, cols]` of the upper triangle.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Piece {
    row: usize,
    cols: Range<usize>,
}

/// Cuts the upper triangle into tasks of about equal cost: one per row, or several for a row
/// that costs more than the target. Depends on the lengths only.
fn plan_matrix(lens: &[usize]) -> Result<(Vec<Piece>, u64)> {
    let n = lens.len();
    // suffix[i] = the total length of the strings i.., so that row i (string i as the pattern
    // against every later string) costs words(i) * suffix[i + 1] + PAIR_COST * (n - 1 - i).
    let mut suffix: Vec<u64> = engine::try_vec(n + 1, "the task plan")?;
    suffix.resize(n + 1, 0);
    for i in (0..n).rev() {
        suffix[i] = suffix[i + 1].saturating_add(lens[i] as u64);
    }
    let row_cost = |i: usize| {
        (words(lens[i]) as u64)
            .saturating_mul(suffix[i + 1])
            .saturating_add(PAIR_COST.saturating_mul((n - 1 - i) as u64))
    };
    let total = (0..n).map(row_cost).fold(0u64, u64::saturating_add);
    let target = (total / TASKS_HINT).clamp(MIN_TASK, MAX_TASK);
    let mut pieces = engine::try_vec(n, "the task plan")?;
    for row in 0..n.saturating_sub(1) {
        if row_cost(row) <= target {
            push(
                &mut pieces,
                Piece {
                    row,
                    cols: row + 1..n,
                },
                "the task plan",
            )?;
            continue;
        }
        let (mut start, mut acc) = (row + 1, 0u64);
        for col in row + 1..n {
            acc = acc.saturating_add(cost(lens[row], lens[col]));
            // An even number of strings per piece: the kernel takes them two at a time.
            if acc >= target && (col + 1 - start) % 2 == 0 {
                push(
                    &mut pieces,
                    Piece {
                        row,
                        cols: start..col + 1,
                    },
                    "the task plan",
                )?;
                (start, acc) = (col + 1, 0);
            }
        }
        if start < n {
            push(&mut pieces, Piece { row, cols: start..n }, "the task plan")?;
        }
    }
    Ok((pieces, total))
}

/// How many of the call's tasks each worker must have at least: all of them (the calling
/// thread alone) for small calls.
fn grain(tasks: usize, total: u64) -> usize {
    if total < PARALLEL_MIN {
        tasks.max(1)
    } else {
        1
    }
}

/// The `n x n` matrix of Levenshtein distances between `strings`, row-major.
///
/// # Errors
///
/// [`Error::Overflow`] if `n * n` does not fit the address space, [`Error::OutOfMemory`] if the
/// matrix cannot be allocated, [`Error::Cancelled`] on Ctrl-C (or `Future.cancel()` for a task).
pub fn matrix(ctx: &Ctx<'_>, strings: &[Chars]) -> Result<Vec<u32>> {
    let n = strings.len();
    let cells = n
        .checked_mul(n)
        .ok_or_else(|| Error::Overflow(format!("a {n} x {n} matrix does not fit in the address space")))?;
    // Zeroed lazily by the operating system: no serial fill of gigabytes before the first task.
    let mut out: Vec<u32> = engine::zeroed_vec(cells, &format!("a {n} x {n} uint32 matrix"))?;
    let lens: Vec<usize> = {
        let mut v = engine::try_vec(n, "the string lengths")?;
        v.extend(strings.iter().map(Vec::len));
        v
    };
    let (pieces, total) = plan_matrix(&lens)?;

    // Phase 1: the upper triangle. Each task owns the slice `out[row, cols]` (they are disjoint
    // and in memory order), behind its own lock, which no other task ever takes.
    {
        let mut slots: Vec<Mutex<&mut [u32]>> = engine::try_vec(pieces.len(), "the task plan")?;
        let mut rest: &mut [u32] = &mut out;
        let mut offset = 0;
        for piece in &pieces {
            let start = piece.row * n + piece.cols.start;
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(start - offset);
            let (mine, tail) = tail.split_at_mut(piece.cols.len());
            slots.push(Mutex::new(mine));
            rest = tail;
            offset = start + piece.cols.len();
        }
        let done = ctx.map_tasks_grained(pieces.len(), grain(pieces.len(), total), |t| {
            let mut slot = slots[t].lock().unwrap_or_else(PoisonError::into_inner);
            let piece = &pieces[t];
            let mut pattern = Pattern::default();
            pattern.set(&strings[piece.row])?;
            let mut scratch = Scratch::default();
            let mut budget = Budget::new(ctx);
            distances(
                &pattern,
                &strings[piece.cols.clone()],
                &mut slot,
                &mut scratch,
                &mut budget,
            )
        })?;
        done.into_iter().collect::<Result<()>>()?;
    }

    // Phase 2: the lower triangle, a transposed copy of the upper one, by blocks of rows.
    mirror(ctx, &mut out, n, total)?;
    Ok(out)
}

/// Rows per task of the mirror phase.
const MIRROR_ROWS: usize = 32;

/// Copies the upper triangle of the `n x n` matrix `out` into its lower triangle.
fn mirror(ctx: &Ctx<'_>, out: &mut [u32], n: usize, total: u64) -> Result<()> {
    // Split every row into its lower part (written here) and its upper part (read here).
    let mut lowers: Vec<&mut [u32]> = engine::try_vec(n, "the matrix rows")?;
    let mut uppers: Vec<&[u32]> = engine::try_vec(n, "the matrix rows")?;
    for (r, row) in out.chunks_exact_mut(n.max(1)).enumerate() {
        let (lower, upper) = row.split_at_mut(r);
        let upper: &[u32] = upper;
        lowers.push(lower);
        uppers.push(&upper[1..]); // without the diagonal
    }
    let blocks: Vec<Mutex<&mut [&mut [u32]]>> = {
        let mut v = engine::try_vec(n.div_ceil(MIRROR_ROWS), "the matrix rows")?;
        v.extend(lowers.chunks_mut(MIRROR_ROWS).map(Mutex::new));
        v
    };
    ctx.map_tasks_grained(blocks.len(), grain(blocks.len(), total), |b| {
        let mut block = blocks[b].lock().unwrap_or_else(PoisonError::into_inner);
        let r0 = b * MIRROR_ROWS;
        let r_end = r0 + block.len();
        // Column by column: row j's upper part is read contiguously, MIRROR_ROWS rows written.
        for (j, upper) in uppers.iter().enumerate().take(r_end) {
            for (k, lower) in block.iter_mut().enumerate() {
                let r = r0 + k;
                if j < r {
                    lower[j] = upper[r - j - 1];
                }
            }
        }
    })?;
    Ok(())
}

// ---- pairs ----------------------------------------------------------------------------------

/// The distances between `a[i]` and `b[i]` for every `i`.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if the lengths differ, [`Error::OutOfMemory`] if the output cannot
/// be allocated, [`Error::Cancelled`] on Ctrl-C (or `Future.cancel()` for a task).
pub fn pairs(ctx: &Ctx<'_>, a: &[Chars], b: &[Chars]) -> Result<Vec<u32>> {
    if a.len() != b.len() {
        return Err(Error::InvalidArgument {
            arg: "b",
            message: format!("must have as many strings as a ({}), got {}", a.len(), b.len()),
        });
    }
    let n = a.len();
    let mut out: Vec<u32> = engine::zeroed_vec(n, &format!("{n} uint32 distances"))?;
    // Tasks: runs of consecutive pairs of about equal cost.
    let pair_cost = |x: &Chars, y: &Chars| cost(x.len(), y.len()).min(cost(y.len(), x.len()));
    let total = a
        .iter()
        .zip(b)
        .map(|(x, y)| pair_cost(x, y))
        .fold(0u64, u64::saturating_add);
    let target = (total / TASKS_HINT).clamp(MIN_TASK, MAX_TASK);
    let mut ranges: Vec<Range<usize>> = engine::try_vec(0, "the task plan")?;
    let (mut start, mut acc) = (0, 0u64);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        acc = acc.saturating_add(pair_cost(x, y));
        if acc >= target {
            push(&mut ranges, start..i + 1, "the task plan")?;
            (start, acc) = (i + 1, 0);
        }
    }
    if start < n {
        push(&mut ranges, start..n, "the task plan")?;
    }
    {
        let mut slots: Vec<Mutex<&mut [u32]>> = engine::try_vec(ranges.len(), "the task plan")?;
        let mut rest: &mut [u32] = &mut out;
        for range in &ranges {
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut(range.len());
            slots.push(Mutex::new(mine));
            rest = tail;
        }
        let done = ctx.map_tasks_grained(ranges.len(), grain(ranges.len(), total), |t| {
            let mut slot = slots[t].lock().unwrap_or_else(PoisonError::into_inner);
            let range = ranges[t].clone();
            let (mut pattern, mut scratch, mut budget) =
                (Pattern::default(), Scratch::default(), Budget::new(ctx));
            for (dst, (x, y)) in slot.iter_mut().zip(a[range.clone()].iter().zip(&b[range])) {
                // The cheaper way round (usually the shorter string as the pattern).
                let (p, t) = if cost(x.len(), y.len()) <= cost(y.len(), x.len()) {
                    (x, y)
                } else {
                    (y, x)
                };
                pattern.set(p)?;
                *dst = distance(&pattern, t, &mut scratch, &mut budget)?;
            }
            Ok(())
        })?;
        done.into_iter().collect::<Result<()>>()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Threads;

    /// A small deterministic generator (xorshift64*), so the tests need no extra crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// A string over `alphabet`, with an occasional character far outside it.
        fn string(&mut self, max_len: u64, alphabet: &[u32]) -> Chars {
            let len = self.below(max_len + 1);
            (0..len)
                .map(|_| {
                    if self.below(50) == 0 {
                        0x1_0000 + self.below(0x1000) as u32
                    } else {
                        alphabet[self.below(alphabet.len() as u64) as usize]
                    }
                })
                .collect()
        }
    }

    fn chars(s: &str) -> Chars {
        s.chars().map(u32::from).collect()
    }

    fn one(a: &[u32], b: &[u32]) -> u64 {
        let ctx = Ctx::new(Threads::Caller, None);
        let mut p = Pattern::default();
        p.set(a).unwrap();
        u64::from(distance(&p, b, &mut Scratch::default(), &mut Budget::new(&ctx)).unwrap())
    }

    #[test]
    fn textbook_examples() {
        for (a, b, d) in [
            ("kitten", "sitting", 3),
            ("flaw", "lawn", 2),
            ("", "", 0),
            ("", "abc", 3),
            ("abc", "", 3),
            ("résumé", "resume", 2),
            ("日本語", "日本", 1),
            ("🦀🐍", "🐍🦀", 2),
        ] {
            assert_eq!(one(&chars(a), &chars(b)), d, "{a:?} {b:?}");
            assert_eq!(reference(&chars(a), &chars(b)), d, "{a:?} {b:?}");
        }
    }

    #[test]
    fn bit_parallel_equals_the_table_across_word_boundaries() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let small: Vec<u32> = "ab".chars().map(u32::from).collect();
        let latin: Vec<u32> = "abcdefgé ".chars().map(u32::from).collect();
        let wide: Vec<u32> = (0..300).map(|i| 0x400 + i).collect(); // Cyrillic and beyond: sparse
        let mut pattern = Pattern::default();
        let mut scratch = Scratch::default();
        let ctx = Ctx::new(Threads::Caller, None);
        for round in 0..1500 {
            let alphabet = [&small, &latin, &wide][round % 3];
            let max_len = [5, 70, 200, 400][round % 4];
            let a = rng.string(max_len, alphabet);
            let b = if rng.below(3) == 0 {
                // A near copy: long runs of matches exercise the carries.
                let mut b = a.clone();
                for _ in 0..rng.below(4) {
                    if !b.is_empty() {
                        let i = rng.below(b.len() as u64) as usize;
                        b[i] = alphabet[0];
                    }
                }
                b
            } else {
                rng.string(max_len, alphabet)
            };
            pattern.set(&a).unwrap();
            let got = distance(&pattern, &b, &mut scratch, &mut Budget::new(&ctx)).unwrap();
            assert_eq!(u64::from(got), reference(&a, &b), "round {round}: {a:?} vs {b:?}");
        }
    }

    #[test]
    fn exact_multiples_of_64_and_one_off() {
        for len in [63, 64, 65, 127, 128, 129, 192] {
            let a: Chars = (0..len).map(|i| u32::from(b'a') + (i % 3)).collect();
            let mut b = a.clone();
            b[len as usize / 2] = u32::from('z');
            b.push(u32::from('q'));
            assert_eq!(one(&a, &b), reference(&a, &b), "len {len}");
            assert_eq!(one(&b, &a), reference(&a, &b), "len {len}");
            assert_eq!(one(&a, &a), 0);
        }
    }

    fn strings(rng: &mut Rng, n: usize, max_len: u64) -> Vec<Chars> {
        let alphabet: Vec<u32> = "acgt".chars().map(u32::from).collect();
        (0..n).map(|_| rng.string(max_len, &alphabet)).collect()
    }

    #[test]
    fn matrix_is_the_table_and_the_same_at_any_thread_count() {
        let mut rng = Rng(7);
        for (n, max_len) in [(0, 5), (1, 5), (2, 0), (7, 3), (40, 90), (120, 30)] {
            let s = strings(&mut rng, n, max_len);
            let caller = matrix(&Ctx::new(Threads::Caller, None), &s).unwrap();
            assert_eq!(caller.len(), n * n);
            for i in 0..n {
                for j in 0..n {
                    assert_eq!(
                        u64::from(caller[i * n + j]),
                        reference(&s[i], &s[j]),
                        "n {n} ({i}, {j})"
                    );
                }
            }
            for threads in [
                Threads::Pool,
                Threads::AtMost(std::num::NonZeroUsize::new(2).unwrap()),
            ] {
                assert_eq!(matrix(&Ctx::new(threads, None), &s).unwrap(), caller);
            }
        }
    }

    #[test]
    fn matrix_of_long_strings_with_rare_characters() {
        // Several words per pattern and characters rare enough to be sparse: the two-texts-at-once
        // path with every kind of mask, and texts of different lengths (the tails).
        let mut rng = Rng(13);
        let alphabet: Vec<u32> = "abé".chars().map(u32::from).chain(0x400..0x500).collect();
        let s: Vec<Chars> = (0..9).map(|_| rng.string(400, &alphabet)).collect();
        for threads in [Threads::Caller, Threads::Pool] {
            let got = matrix(&Ctx::new(threads, None), &s).unwrap();
            for i in 0..s.len() {
                for j in 0..s.len() {
                    assert_eq!(
                        u64::from(got[i * s.len() + j]),
                        reference(&s[i], &s[j]),
                        "({i}, {j})"
                    );
                }
            }
        }
    }

    #[test]
    fn plan_covers_the_upper_triangle_once_in_memory_order() {
        let lens: Vec<usize> = (0..300)
            .map(|i| if i % 17 == 0 { 5000 } else { i % 40 })
            .collect();
        let (pieces, _) = plan_matrix(&lens).unwrap();
        let mut next = (0, 1);
        for p in &pieces {
            assert!(!p.cols.is_empty());
            if (p.row, p.cols.start) != next {
                assert_eq!(next.1, lens.len(), "a row was left unfinished");
                assert_eq!((p.row, p.cols.start), (next.0 + 1, next.0 + 2));
            }
            next = (p.row, p.cols.end);
        }
        assert_eq!(next, (lens.len() - 2, lens.len()));
        assert!(pieces.len() > lens.len(), "the long rows were split");
    }

    #[test]
    fn pairs_are_the_table() {
        let mut rng = Rng(11);
        let a = strings(&mut rng, 500, 150);
        let b = strings(&mut rng, 500, 150);
        let got = pairs(&Ctx::new(Threads::Pool, None), &a, &b).unwrap();
        for i in 0..a.len() {
            assert_eq!(u64::from(got[i]), reference(&a[i], &b[i]), "pair {i}");
        }
        assert_eq!(pairs(&Ctx::new(Threads::Caller, None), &a, &b).unwrap(), got);
        assert!(matches!(
            pairs(&Ctx::new(Threads::Caller, None), &a, &b[1..]),
            Err(Error::InvalidArgument { arg: "b", .. })
        ));
    }

    #[test]
    fn a_cancelled_call_stops_inside_one_long_pair() {
        // Two strings of 200k characters: one pair is ~10^9 cell updates, seconds of work. A
        // cancel flag set from another thread must stop the call within the pair.
        let a: Chars = (0..200_000).map(|i| u32::from(b'a') + (i % 7)).collect();
        let b: Chars = (0..200_000).map(|i| u32::from(b'a') + (i % 5)).collect();
        let ctx = Ctx::new(Threads::Caller, None);
        let t0 = std::time::Instant::now();
        let got = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                ctx.cancel();
            });
            matrix(&ctx, &[a, b])
        });
        assert_eq!(got, Err(Error::Cancelled));
        assert!(
            t0.elapsed() < std::time::Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );
    }
}
