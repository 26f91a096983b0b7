//! Digests of many byte strings or files: `hash_many` and `hash_files`.
//!
//! # Algorithms
//!
//! [`Algorithm`]: BLAKE3 (32 bytes, the `blake3` crate), SHA-256 (32 bytes, `sha2`), XXH3-64 (8
//! bytes) and XXH3-128 (16 bytes) (`xxhash-rust`). The XXH3 digests are the hash value written
//! big-endian, as the `xxhash` Python package's `.digest()` (and the canonical XXH3 form) are.
//!
//! # Tasks and determinism
//!
//! The work is one flat list of tasks, fixed by the blob sizes alone, run on the call's pool
//! ([`Ctx::map_tasks`]: dynamic hand-out, results in task order):
//!
//! - consecutive blobs grouped until a task has at least [`TASK_BYTES`] (or [`TASK_BLOBS`]
//!   blobs), each blob hashed whole by one worker;
//! - a BLAKE3 blob longer than [`SUBTREE`] is cut into aligned [`SUBTREE`]-byte pieces, one
//!   task each: a piece is a complete BLAKE3 subtree (its offset is a multiple of its power-of-two
//!   length, so it never exceeds `blake3::hazmat::max_subtree_len`), hashed to its chaining value
//!   with `blake3::hazmat` (`set_input_offset`, `finalize_non_root`). Once all tasks are done the
//!   calling thread merges a blob's chaining values along BLAKE3's own tree (left subtree = the
//!   largest power of two below the length, `left_subtree_len`) into the root: the digest is
//!   bit for bit `blake3::hash` of the blob, at every thread count. One 1 GiB blob thus uses
//!   every worker, and a few huge blobs among many small ones balance (no task is longer than
//!   about [`SUBTREE`] + [`TASK_BYTES`] bytes of hashing).
//!
//! SHA-256 and XXH3 are sequential by construction (each block's state depends on the previous
//! one): one blob of those is always hashed by one worker.
//!
//! Tasks are small (tens of microseconds) so that two threads share even a small call; the
//! engine wakes pool workers only when the calling thread finds the work left worth it.
//!
//! # Files
//!
//! [`hash_files`] runs in two rounds of tasks. Round one, one task per file: open, `fstat`, and
//! hash the file whole with reads of up to [`READ`] bytes, unless it is a regular file that
//! BLAKE3 will split (longer than [`SUBTREE`]): then it only notes its size. Round two, one task
//! per piece of those big files: open the file again and read its piece with `pread` (blocks of
//! [`READ`] bytes into a per-thread buffer) at its offset; chaining values merged as above. No
//! file descriptor is kept between the rounds (thousands of big files must not exhaust
//! `RLIMIT_NOFILE`). A split file is hashed over the size seen when it was opened; if it shrinks
//! meanwhile, the piece that finds the end early reports an `UnexpectedEof` error for it.
//!
//! Files are read, not memory-mapped: a file truncated by another process while mapped would
//! raise SIGBUS in the reading thread, which only a process-wide signal handler could turn into
//! an error. Reads into a small per-thread buffer that stays in cache cost little next to
//! hashing (measured in docs, "hashing").
//!
//! # Cancellation
//!
//! `ctx.check()` runs between tasks (a piece of a split blob is one [`SUBTREE`]), between the
//! [`PIECE`]-sized pieces of one unsplit blob (a piece takes about a millisecond at the slowest
//! algorithm, SHA-256 without SHA extensions), and between the reads of a file.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use blake3::hazmat::{self, ChainingValue, HasherExt as _};
use sha2::Digest as _;

use crate::engine::Ctx;
use crate::{try_vec, Result};

/// Bytes hashed between two cancellation checks in one unsplit blob: 1 MiB.
pub const PIECE: usize = 1 << 20;

/// The read size of [`hash_files`] (and its per-thread buffer): 256 KiB.
pub const READ: usize = 1 << 18;

/// BLAKE3 blobs longer than this are hashed as subtrees of exactly this many bytes (the last one
/// shorter), each a task of its own: 256 KiB (a power of two, a multiple of BLAKE3's 1 KiB
/// chunk; ~75 µs of hashing, so that two threads share a blob from half a megabyte on).
pub const SUBTREE: usize = 1 << 18;

/// A task holds consecutive blobs until it has at least this many bytes (32 KiB)...
pub const TASK_BYTES: usize = 1 << 15;

/// ... or this many blobs (small blobs cost their per-blob set-up, not their bytes).
pub const TASK_BLOBS: usize = 256;

/// A digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// BLAKE3, 32 bytes.
    Blake3,
    /// SHA-256, 32 bytes.
    Sha256,
    /// XXH3 64-bit, 8 bytes, big-endian.
    Xxh3_64,
    /// XXH3 128-bit, 16 bytes, big-endian.
    Xxh3_128,
}

impl Algorithm {
    /// Every algorithm's name, as `algorithm=` takes it.
    pub const NAMES: [&'static str; 4] = ["blake3", "sha256", "xxh3_64", "xxh3_128"];

    /// The algorithm of a name in [`Self::NAMES`], or `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "blake3" => Some(Algorithm::Blake3),
            "sha256" => Some(Algorithm::Sha256),
            "xxh3_64" => Some(Algorithm::Xxh3_64),
            "xxh3_128" => Some(Algorithm::Xxh3_128),
            _ => None,
        }
    }

    /// The digest's length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Blake3 | Algorithm::Sha256 => 32,
            Algorithm::Xxh3_64 => 8,
            Algorithm::Xxh3_128 => 16,
        }
    }
}

/// One digest: up to 32 bytes, inline (no allocation per blob).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    bytes: [u8; 32],
    len: u8,
}

impl Digest {
    fn new(src: &[u8]) -> Self {
        let mut bytes = [0u8; 32];
        bytes[..src.len()].copy_from_slice(src);
        Digest {
            bytes,
            len: src.len() as u8,
        }
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// An incremental hasher of one algorithm.
#[allow(clippy::large_enum_variant)]
enum Hasher {
    Blake3(Box<blake3::Hasher>),
    Sha256(sha2::Sha256),
    Xxh3_64(Box<xxhash_rust::xxh3::Xxh3>),
    Xxh3_128(Box<xxhash_rust::xxh3::Xxh3>),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Xxh3_64 => Hasher::Xxh3_64(Box::new(xxhash_rust::xxh3::Xxh3::new())),
            Algorithm::Xxh3_128 => Hasher::Xxh3_128(Box::new(xxhash_rust::xxh3::Xxh3::new())),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Blake3(h) => {
                h.update(data);
            }
            Hasher::Sha256(h) => h.update(data),
            Hasher::Xxh3_64(h) | Hasher::Xxh3_128(h) => h.update(data),
        }
    }

    fn finish(self) -> Digest {
        match self {
            Hasher::Blake3(h) => Digest::new(h.finalize().as_bytes()),
            Hasher::Sha256(h) => Digest::new(&h.finalize()),
            Hasher::Xxh3_64(h) => Digest::new(&h.digest().to_be_bytes()),
            Hasher::Xxh3_128(h) => Digest::new(&h.digest128().to_be_bytes()),
        }
    }
}

/// The digest of one blob, checking `ctx` between its [`PIECE`]s.
///
/// # Errors
///
/// [`crate::Error::Cancelled`].
pub fn hash_one(ctx: &Ctx<'_>, algorithm: Algorithm, data: &[u8]) -> Result<Digest> {
    // Short inputs of the one-shot-friendly algorithms skip the streaming state.
    if data.len() <= PIECE {
        return Ok(match algorithm {
            Algorithm::Blake3 => Digest::new(blake3::hash(data).as_bytes()),
            Algorithm::Sha256 => Digest::new(&sha2::Sha256::digest(data)),
            Algorithm::Xxh3_64 => Digest::new(&xxhash_rust::xxh3::xxh3_64(data).to_be_bytes()),
            Algorithm::Xxh3_128 => Digest::new(&xxhash_rust::xxh3::xxh3_128(data).to_be_bytes()),
        });
    }
    let mut hasher = Hasher::new(algorithm);
    for piece in data.chunks(PIECE) {
        ctx.check()?;
        hasher.update(piece);
    }
    Ok(hasher.finish())
}

/// One task of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    /// Blobs `start..end`, each hashed whole.
    Blobs(usize, usize),
    /// Piece `index` (bytes `index * subtree ..`) of blob `blob`, a BLAKE3 subtree.
    Piece { blob: usize, index: usize },
}

/// What a task returns.
enum Part {
    Digests(Vec<Digest>),
    Cv(ChainingValue),
}

fn push<T>(v: &mut Vec<T>, x: T) -> Result<()> {
    v.try_reserve(1)
        .map_err(|_| crate::Error::OutOfMemory("cannot allocate the task list".into()))?;
    v.push(x);
    Ok(())
}

/// The tasks of blobs of these sizes: consecutive whole blobs grouped up to [`TASK_BYTES`] /
/// [`TASK_BLOBS`], and the blobs `split` picks cut into `subtree`-byte pieces. A function of the
/// sizes only.
fn plan(
    sizes: impl Iterator<Item = usize>,
    split: impl Fn(usize) -> bool,
    subtree: usize,
) -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    let (mut start, mut bytes) = (0usize, 0usize);
    let mut end = 0usize;
    for (i, size) in sizes.enumerate() {
        end = i + 1;
        if split(size) {
            if start < i {
                push(&mut units, Unit::Blobs(start, i))?;
            }
            for index in 0..size.div_ceil(subtree) {
                push(&mut units, Unit::Piece { blob: i, index })?;
            }
            (start, bytes) = (i + 1, 0);
            continue;
        }
        bytes = bytes.saturating_add(size);
        if bytes >= TASK_BYTES || i + 1 - start >= TASK_BLOBS {
            push(&mut units, Unit::Blobs(start, i + 1))?;
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < end {
        push(&mut units, Unit::Blobs(start, end))?;
    }
    Ok(units)
}

/// The chaining value of one subtree: `data`, starting `offset` bytes into its blob.
fn piece_cv(data: &[u8], offset: u64) -> ChainingValue {
    let mut hasher = blake3::Hasher::new();
    // `offset` is a multiple of a power-of-two subtree size >= 1 KiB, `data` no longer than it
    // and not empty: the conditions `set_input_offset` and `finalize_non_root` assert.
    hasher.set_input_offset(offset);
    hasher.update(data);
    hasher.finalize_non_root()
}

/// The chaining value of the subtree of `len` bytes whose pieces' chaining values are `cvs`
/// (BLAKE3's tree: the left child holds the largest power of two of bytes below `len`).
fn subtree_cv(cvs: &[ChainingValue], len: u64, subtree: u64) -> ChainingValue {
    if cvs.len() <= 1 {
        return cvs.first().copied().unwrap_or_default();
    }
    let left = hazmat::left_subtree_len(len);
    let k = usize::try_from(left / subtree)
        .unwrap_or(usize::MAX)
        .min(cvs.len());
    hazmat::merge_subtrees_non_root(
        &subtree_cv(&cvs[..k], left, subtree),
        &subtree_cv(&cvs[k..], len - left, subtree),
        hazmat::Mode::Hash,
    )
}

/// The BLAKE3 digest of a blob of `len` > `subtree` bytes from its pieces' chaining values.
fn root_digest(cvs: &[ChainingValue], len: u64, subtree: u64) -> Digest {
    let left = hazmat::left_subtree_len(len);
    let k = usize::try_from(left / subtree)
        .unwrap_or(usize::MAX)
        .min(cvs.len());
    let root = hazmat::merge_subtrees_root(
        &subtree_cv(&cvs[..k], left, subtree),
        &subtree_cv(&cvs[k..], len - left, subtree),
        hazmat::Mode::Hash,
    );
    Digest::new(root.as_bytes())
}

/// The digests of `blobs`, in order, computed in parallel: groups of small blobs, and BLAKE3
/// blobs over [`SUBTREE`] bytes cut into subtrees (see the module's documentation).
///
/// # Errors
///
/// [`crate::Error::Cancelled`]; [`crate::Error::OutOfMemory`] if the output cannot be allocated.
pub fn hash_many<B: AsRef<[u8]> + Sync>(
    ctx: &Ctx<'_>,
    blobs: &[B],
    algorithm: Algorithm,
) -> Result<Vec<Digest>> {
    hash_many_split(ctx, blobs, algorithm, SUBTREE)
}

/// [`hash_many`] with BLAKE3 subtrees of `subtree` bytes (a power of two, at least 1024; other
/// values fall back to [`SUBTREE`]): for tests and measurements. The digests do not depend on it.
///
/// # Errors
///
/// As [`hash_many`].
#[doc(hidden)]
pub fn hash_many_split<B: AsRef<[u8]> + Sync>(
    ctx: &Ctx<'_>,
    blobs: &[B],
    algorithm: Algorithm,
    subtree: usize,
) -> Result<Vec<Digest>> {
    let subtree = valid_subtree(subtree);
    let n = blobs.len();
    let mut out = try_vec(n, "the digests")?;
    let split = |len: usize| algorithm == Algorithm::Blake3 && len > subtree;
    let units = plan(blobs.iter().map(|b| b.as_ref().len()), split, subtree)?;
    let tasks = units.len();
    let parts = ctx.map_tasks(tasks, |t| -> Result<Part> {
        match units[t] {
            Unit::Blobs(start, end) => {
                let mut digests = try_vec(end - start, "the digests")?;
                for blob in &blobs[start..end] {
                    ctx.check()?;
                    digests.push(hash_one(ctx, algorithm, blob.as_ref())?);
                }
                Ok(Part::Digests(digests))
            }
            Unit::Piece { blob, index } => {
                ctx.check()?;
                let data = blobs[blob].as_ref();
                let start = index * subtree;
                let end = data.len().min(start + subtree);
                Ok(Part::Cv(piece_cv(&data[start..end], start as u64)))
            }
        }
    })?;
    let mut cvs: Vec<ChainingValue> = Vec::new();
    for (unit, part) in units.iter().zip(parts) {
        match part? {
            Part::Digests(d) => out.extend(d),
            Part::Cv(cv) => {
                push(&mut cvs, cv)?;
                if let Unit::Piece { blob, index } = *unit {
                    let len = blobs[blob].as_ref().len();
                    if index + 1 == len.div_ceil(subtree) {
                        out.push(root_digest(&cvs, len as u64, subtree as u64));
                        cvs.clear();
                    }
                }
            }
        }
    }
    Ok(out)
}

/// `subtree` if it is a power of two of at least one BLAKE3 chunk, else [`SUBTREE`].
fn valid_subtree(subtree: usize) -> usize {
    if subtree.is_power_of_two() && subtree >= blake3::CHUNK_LEN {
        subtree
    } else {
        SUBTREE
    }
}

thread_local! {
    /// Each thread's read buffer for [`hash_files`], kept between files and calls ([`READ`]
    /// bytes at most): no allocation, zeroing or page faults per file.
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a read buffer of `len` bytes (at most [`READ`]): this thread's, or a fresh one.
fn with_buffer<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
    let len = len.clamp(1, READ);
    let fresh = || -> Result<Vec<u8>> {
        let mut v = try_vec::<u8>(len, "a read buffer")?;
        v.resize(len, 0);
        Ok(v)
    };
    READ_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.clear();
                buf.try_reserve_exact(READ)
                    .map_err(|_| crate::Error::OutOfMemory("cannot allocate a read buffer".into()))?;
                buf.resize(READ, 0);
            }
            Ok(f(&mut buf[..len]))
        }
        Err(_) => Ok(f(&mut fresh()?)),
    })
}

/// What round one of [`hash_files`] found for one file.
enum Opened {
    /// Hashed (or failed).
    Done(io::Result<Digest>),
    /// A regular file of this many bytes, to be hashed as BLAKE3 subtrees in round two.
    Split(u64),
}

/// Round one for one file: its digest, read to the end, or its size if `split` picks it.
fn open_and_hash(
    ctx: &Ctx<'_>,
    algorithm: Algorithm,
    path: &Path,
    split: &impl Fn(usize) -> bool,
) -> Result<Opened> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return Ok(Opened::Done(Err(e))),
    };
    // A directory's metadata says 4096 or so; its read fails (EISDIR). Only regular files split.
    let (size, regular) = file
        .metadata()
        .map_or((READ as u64, false), |m| (m.len(), m.is_file()));
    let len = usize::try_from(size).unwrap_or(usize::MAX);
    if regular && split(len) {
        return Ok(Opened::Split(size));
    }
    // A buffer of the file's size (+1 to see the end in one read), at most READ.
    with_buffer(len.saturating_add(1), |buf| -> Result<Opened> {
        let mut hasher = Hasher::new(algorithm);
        loop {
            ctx.check()?;
            match file.read(buf) {
                Ok(0) => return Ok(Opened::Done(Ok(hasher.finish()))),
                Ok(k) => hasher.update(&buf[..k]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Ok(Opened::Done(Err(e))),
            }
        }
    })?
}

/// Round two for one piece: the chaining value of bytes `offset .. offset + len` of the file.
fn file_piece_cv(ctx: &Ctx<'_>, path: &Path, offset: u64, len: usize) -> Result<io::Result<ChainingValue>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    with_buffer(len, |buf| -> Result<io::Result<ChainingValue>> {
        let mut hasher = blake3::Hasher::new();
        hasher.set_input_offset(offset);
        let mut done = 0usize;
        while done < len {
            ctx.check()?;
            let want = buf.len().min(len - done);
            match file.read_at(&mut buf[..want], offset + done as u64) {
                Ok(0) => {
                    return Ok(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was hashed",
                    )))
                }
                Ok(k) => {
                    hasher.update(&buf[..k]);
                    done += k;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(hasher.finalize_non_root()))
    })?
}

/// The digests of the files at `paths`, in order, in parallel: files in round one, pieces of
/// big BLAKE3 files in round two (see the module's documentation). Every file is attempted; each
/// entry is the file's digest or the I/O error that stopped it (the caller decides which to
/// report).
///
/// # Errors
///
/// [`crate::Error::Cancelled`]; [`crate::Error::OutOfMemory`] if the output or a read buffer
/// cannot be allocated.
pub fn hash_files<P: AsRef<Path> + Sync>(
    ctx: &Ctx<'_>,
    paths: &[P],
    algorithm: Algorithm,
) -> Result<Vec<io::Result<Digest>>> {
    hash_files_split(ctx, paths, algorithm, SUBTREE)
}

/// [`hash_files`] with BLAKE3 subtrees of `subtree` bytes, as [`hash_many_split`].
///
/// # Errors
///
/// As [`hash_files`].
#[doc(hidden)]
pub fn hash_files_split<P: AsRef<Path> + Sync>(
    ctx: &Ctx<'_>,
    paths: &[P],
    algorithm: Algorithm,
    subtree: usize,
) -> Result<Vec<io::Result<Digest>>> {
    let subtree = valid_subtree(subtree);
    let n = paths.len();
    let split = |len: usize| algorithm == Algorithm::Blake3 && len > subtree;
    let opened = ctx.map_tasks(n, |i| -> Result<Opened> {
        ctx.check()?;
        open_and_hash(ctx, algorithm, paths[i].as_ref(), &split)
    })?;
    let mut opened = opened.into_iter().collect::<Result<Vec<Opened>>>()?;
    let size_of = |o: &Opened| match o {
        Opened::Split(size) => usize::try_from(*size).unwrap_or(usize::MAX),
        Opened::Done(_) => 0,
    };
    // Round two: the pieces of the split files, in file order.
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    for (i, o) in opened.iter().enumerate() {
        for index in 0..size_of(o).div_ceil(subtree) {
            push(&mut pieces, (i, index))?;
        }
    }
    let parts = ctx.map_tasks(pieces.len(), |t| -> Result<io::Result<ChainingValue>> {
        ctx.check()?;
        let (file, index) = pieces[t];
        let start = index * subtree;
        let len = size_of(&opened[file]).min(start + subtree) - start;
        file_piece_cv(ctx, paths[file].as_ref(), start as u64, len)
    })?;
    let mut cvs: Vec<ChainingValue> = Vec::new();
    let mut failed: Option<io::Error> = None;
    for (&(file, index), part) in pieces.iter().zip(parts) {
        match part? {
            Ok(cv) => push(&mut cvs, cv)?,
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
        let len = size_of(&opened[file]);
        if index + 1 == len.div_ceil(subtree) {
            opened[file] = Opened::Done(match failed.take() {
                Some(e) => Err(e),
                None => Ok(root_digest(&cvs, len as u64, subtree as u64)),
            });
            cvs.clear();
        }
    }
    let mut out = try_vec(n, "the digests")?;
    for o in opened {
        out.push(match o {
            Opened::Done(r) => r,
            Opened::Split(_) => Err(io::Error::other("internal: a split file was not hashed")),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod test;
