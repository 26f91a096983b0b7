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
//! Each blob (or file) is hashed whole by one worker: the parallel unit is the blob, not a piece
//! of one blob, so the digests never depend on the thread count (one huge blob runs on one
//! worker). Consecutive blobs are grouped into tasks of at least [`TASK_BYTES`] (or
//! [`TASK_BLOBS`] blobs), fixed by the blob sizes alone; `map_tasks_grained` returns the tasks'
//! digests in task order, so the output is in input order. Calls of less than
//! [`MIN_BYTES_PER_WORKER`] in all stay on the calling thread.
//!
//! # Cancellation
//!
//! `ctx.check()` runs between blobs and between the [`PIECE`]-sized pieces of one blob (a piece
//! takes about a millisecond at the slowest algorithm, SHA-256 without SHA extensions), and
//! between the reads of a file.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::Digest as _;

use crate::engine::Ctx;
use crate::{try_vec, Result};

/// Bytes hashed between two cancellation checks, and the read size of [`hash_files`]: 1 MiB.
pub const PIECE: usize = 1 << 20;

/// A task holds consecutive blobs until it has at least this many bytes (256 KiB)...
pub const TASK_BYTES: usize = 1 << 18;

/// ... or this many blobs (small blobs cost their per-blob set-up, not their bytes).
pub const TASK_BLOBS: usize = 1024;

/// Pool workers are used only from this many input bytes on (256 KiB, ~0.1 ms of BLAKE3):
/// waking a worker costs ~25-30 µs.
pub const MIN_BYTES_PER_WORKER: usize = 1 << 18;

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

/// Splits blobs of these sizes into tasks of consecutive blobs: the first index of each task,
/// then `sizes.len()`. A function of the sizes only.
fn task_starts(sizes: impl Iterator<Item = usize>, n: usize) -> Result<Vec<usize>> {
    let mut starts = try_vec(n.div_ceil(TASK_BLOBS).saturating_add(1), "the task list")?;
    starts.push(0);
    let (mut bytes, mut count) = (0usize, 0usize);
    for (i, size) in sizes.enumerate() {
        bytes = bytes.saturating_add(size);
        count += 1;
        if bytes >= TASK_BYTES || count >= TASK_BLOBS {
            starts
                .try_reserve(1)
                .map_err(|_| crate::Error::OutOfMemory("the task list".into()))?;
            starts.push(i + 1);
            bytes = 0;
            count = 0;
        }
    }
    if starts.last() != Some(&n) {
        starts
            .try_reserve(1)
            .map_err(|_| crate::Error::OutOfMemory("the task list".into()))?;
        starts.push(n);
    }
    Ok(starts)
}

/// The digests of `blobs`, in order, computed in parallel (one blob per worker at a time).
///
/// # Errors
///
/// [`crate::Error::Cancelled`]; [`crate::Error::OutOfMemory`] if the output cannot be allocated.
pub fn hash_many<B: AsRef<[u8]> + Sync>(
    ctx: &Ctx<'_>,
    blobs: &[B],
    algorithm: Algorithm,
) -> Result<Vec<Digest>> {
    let n = blobs.len();
    let mut out = try_vec(n, "the digests")?;
    let total = blobs
        .iter()
        .fold(0usize, |acc, b| acc.saturating_add(b.as_ref().len()));
    let starts = task_starts(blobs.iter().map(|b| b.as_ref().len()), n)?;
    let tasks = starts.len() - 1;
    // Fewer than MIN_BYTES_PER_WORKER in all: the calling thread alone (grain past the tasks).
    let grain = if total < MIN_BYTES_PER_WORKER {
        tasks + 1
    } else {
        1
    };
    let parts = ctx.map_tasks_grained(tasks, grain, |t| -> Result<Vec<Digest>> {
        let range = starts[t]..starts[t + 1];
        let mut digests = try_vec(range.len(), "the digests")?;
        for blob in &blobs[range] {
            ctx.check()?;
            digests.push(hash_one(ctx, algorithm, blob.as_ref())?);
        }
        Ok(digests)
    })?;
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// The digest of one file, read in pieces of at most [`PIECE`].
fn hash_file(ctx: &Ctx<'_>, algorithm: Algorithm, path: &Path) -> Result<io::Result<Digest>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    // A buffer of the file's size (+1 to see the end in one read), at most PIECE: small files
    // do not pay for a 1 MiB buffer. A directory's metadata says 4096 or so; its read fails.
    let size = file
        .metadata()
        .map_or(PIECE, |m| usize::try_from(m.len()).unwrap_or(PIECE));
    let want = size.saturating_add(1).min(PIECE);
    let mut buf = try_vec::<u8>(want, "a read buffer")?;
    buf.resize(want, 0);
    let mut hasher = Hasher::new(algorithm);
    loop {
        ctx.check()?;
        match file.read(&mut buf) {
            Ok(0) => return Ok(Ok(hasher.finish())),
            Ok(k) => hasher.update(&buf[..k]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Ok(Err(e)),
        }
    }
}

/// The digests of the files at `paths`, in order, each read in 1 MiB pieces, files in
/// parallel (one file per task). Every file is attempted; each entry is the file's digest or
/// the I/O error that stopped it (the caller decides which to report).
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
    let n = paths.len();
    let mut out = try_vec(n, "the digests")?;
    let parts = ctx.map_tasks(n, |i| -> Result<io::Result<Digest>> {
        ctx.check()?;
        hash_file(ctx, algorithm, paths[i].as_ref())
    })?;
    for part in parts {
        out.push(part?);
    }
    Ok(out)
}

#[cfg(test)]
mod test;
