use super::*;
use crate::engine::Threads;
use crate::kernels::test_support::{ctx, settings};

fn hex(d: &Digest) -> String {
    d.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn one(alg: Algorithm, data: &[u8]) -> String {
    hex(&hash_one(&ctx(Threads::Caller), alg, data).unwrap())
}

/// Published vectors: FIPS 180-2 (SHA-256), the BLAKE3 reference `test_vectors.json` and
/// `b3sum`, xxHash's `xxhsum -H3`/`-H2` (canonical = big-endian).
#[test]
fn published_vectors() {
    let cases: [(Algorithm, &[u8], &str); 8] = [
        (
            Algorithm::Sha256,
            b"",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            Algorithm::Sha256,
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            Algorithm::Blake3,
            b"",
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        ),
        (
            Algorithm::Blake3,
            b"abc",
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
        ),
        (Algorithm::Xxh3_64, b"", "2d06800538d394c2"),
        (Algorithm::Xxh3_128, b"", "99aa06d3014798d86001c324468d497f"),
        (Algorithm::Xxh3_64, b"abc", "78af5f94892f3950"),
        (Algorithm::Xxh3_128, b"abc", "06b05ab6733a618578af5f94892f3950"),
    ];
    for (alg, data, want) in cases {
        assert_eq!(one(alg, data), want, "{alg:?} of {data:?}");
        assert_eq!(one(alg, data).len(), 2 * alg.digest_len());
    }
    // FIPS 180-2: one million 'a'.
    let million = vec![b'a'; 1_000_000];
    assert_eq!(
        one(Algorithm::Sha256, &million),
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    );
}

#[test]
fn names_round_trip() {
    for name in Algorithm::NAMES {
        assert!(Algorithm::from_name(name).is_some());
    }
    assert_eq!(Algorithm::from_name("md5"), None);
}

/// Streaming in pieces (past PIECE) equals one-shot hashing.
#[test]
fn pieces_equal_one_shot() {
    let data: Vec<u8> = (0..(2 * PIECE + 12345)).map(|i| (i * 7 % 251) as u8).collect();
    let c = ctx(Threads::Caller);
    assert_eq!(
        hash_one(&c, Algorithm::Blake3, &data).unwrap().as_bytes(),
        blake3::hash(&data).as_bytes()
    );
    assert_eq!(
        hash_one(&c, Algorithm::Sha256, &data).unwrap().as_bytes(),
        &sha2::Sha256::digest(&data)[..]
    );
    assert_eq!(
        hash_one(&c, Algorithm::Xxh3_64, &data).unwrap().as_bytes(),
        xxhash_rust::xxh3::xxh3_64(&data).to_be_bytes()
    );
    assert_eq!(
        hash_one(&c, Algorithm::Xxh3_128, &data).unwrap().as_bytes(),
        xxhash_rust::xxh3::xxh3_128(&data).to_be_bytes()
    );
}

/// Order kept and the same digests at every thread count, over blobs of mixed sizes.
#[test]
fn thread_invariance() {
    let blobs: Vec<Vec<u8>> = (0..3000)
        .map(|i| (0..(i * 37 % 5000)).map(|j| (i + j) as u8).collect())
        .collect();
    for alg in Algorithm::NAMES.map(|n| Algorithm::from_name(n).unwrap()) {
        let want: Vec<Digest> = blobs
            .iter()
            .map(|b| hash_one(&ctx(Threads::Caller), alg, b).unwrap())
            .collect();
        for t in settings() {
            assert_eq!(hash_many(&ctx(t), &blobs, alg).unwrap(), want, "{alg:?} {t:?}");
        }
    }
    let empty: [&[u8]; 0] = [];
    assert!(hash_many(&ctx(Threads::Pool), &empty, Algorithm::Blake3)
        .unwrap()
        .is_empty());
}

#[test]
fn plan_covers() {
    let sizes = [0usize, TASK_BYTES, 1, 2, TASK_BYTES - 3, 5];
    let units = plan(sizes.iter().copied(), |_| false, SUBTREE).unwrap();
    assert_eq!(
        units,
        vec![Unit::Blobs(0, 2), Unit::Blobs(2, 5), Unit::Blobs(5, 6)]
    );
    assert!(plan(std::iter::empty(), |_| false, SUBTREE).unwrap().is_empty());
    // Split blobs become pieces between groups of whole blobs.
    let sizes = [3usize, 4096 + 1, 5, 6, 2048];
    let units = plan(sizes.iter().copied(), |n| n > 1024, 1024).unwrap();
    let mut want = vec![Unit::Blobs(0, 1)];
    want.extend((0..5).map(|index| Unit::Piece { blob: 1, index }));
    want.push(Unit::Blobs(2, 4));
    want.extend((0..2).map(|index| Unit::Piece { blob: 4, index }));
    assert_eq!(units, want);
}

fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 31 + seed * 7 + (i >> 10)) % 251) as u8)
        .collect()
}

/// Lengths around every subtree boundary of `subtree`: a chunk, 2^k chunks, the subtree, the
/// split threshold, +-1 byte each.
fn boundary_lengths(subtree: usize) -> Vec<usize> {
    let mut lens = vec![0, 1, 1023, 1024, 1025];
    let mut k = 2048;
    while k <= 8 * subtree {
        lens.extend([k - 1, k, k + 1]);
        k *= 2;
    }
    lens.extend([
        3 * subtree - 1,
        3 * subtree + 1,
        5 * subtree + 1024,
        7 * subtree + 17,
    ]);
    lens
}

/// Split BLAKE3 equals blake3::hash at every length around the subtree boundaries, for several
/// subtree sizes and every thread setting; SHA-256 is never split and stays right.
#[test]
fn subtrees_equal_serial_blake3() {
    for subtree in [1024usize, 2048, 4096, 1 << 14] {
        let lens = boundary_lengths(subtree);
        let blobs: Vec<Vec<u8>> = lens.iter().enumerate().map(|(i, &n)| pattern(n, i)).collect();
        let want: Vec<[u8; 32]> = blobs.iter().map(|b| *blake3::hash(b).as_bytes()).collect();
        for t in settings() {
            let got = hash_many_split(&ctx(t), &blobs, Algorithm::Blake3, subtree).unwrap();
            for ((g, w), n) in got.iter().zip(&want).zip(&lens) {
                assert_eq!(g.as_bytes(), w, "subtree {subtree}, len {n}, {t:?}");
            }
            // One blob alone (no neighbours to group with), too.
            for (b, w) in blobs.iter().zip(&want).rev().take(4) {
                let got = hash_many_split(&ctx(t), std::slice::from_ref(b), Algorithm::Blake3, subtree);
                assert_eq!(
                    got.unwrap()[0].as_bytes(),
                    w,
                    "subtree {subtree}, len {}",
                    b.len()
                );
            }
        }
        let sha = hash_many_split(&ctx(Threads::Pool), &blobs, Algorithm::Sha256, subtree).unwrap();
        for (g, b) in sha.iter().zip(&blobs) {
            assert_eq!(g.as_bytes(), &sha2::Sha256::digest(b)[..]);
        }
    }
    // An invalid subtree size falls back to SUBTREE.
    assert_eq!(valid_subtree(3000), SUBTREE);
    assert_eq!(valid_subtree(512), SUBTREE);
    assert_eq!(valid_subtree(1 << 16), 1 << 16);
}

/// The real SUBTREE, at the threshold +-1 byte and a few pieces, mixed with small blobs.
#[test]
fn real_subtree_boundaries() {
    let lens = [
        SUBTREE - 1,
        SUBTREE,
        SUBTREE + 1,
        2 * SUBTREE + 1,
        3 * SUBTREE - 1,
        10,
        5000,
    ];
    let blobs: Vec<Vec<u8>> = lens.iter().enumerate().map(|(i, &n)| pattern(n, i)).collect();
    for t in settings() {
        let got = hash_many(&ctx(t), &blobs, Algorithm::Blake3).unwrap();
        for (g, b) in got.iter().zip(&blobs) {
            assert_eq!(g.as_bytes(), blake3::hash(b).as_bytes(), "len {} {t:?}", b.len());
        }
    }
}

#[test]
fn cancelled_stops() {
    let c = ctx(Threads::Pool);
    c.cancel();
    let blobs = vec![vec![0u8; 3 * PIECE]; 4];
    assert_eq!(
        hash_many(&c, &blobs, Algorithm::Sha256),
        Err(crate::Error::Cancelled)
    );
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gilfree-hash-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn files() {
    let dir = temp_dir("files");
    let big: Vec<u8> = (0..(PIECE * 2 + 7)).map(|i| (i % 253) as u8).collect();
    let a = dir.join("a");
    let b = dir.join("b");
    std::fs::write(&a, b"abc").unwrap();
    std::fs::write(&b, &big).unwrap();
    let missing = dir.join("missing");
    let paths = [a.clone(), b.clone(), missing, dir.clone()];
    for t in settings() {
        for alg in [Algorithm::Blake3, Algorithm::Sha256] {
            let out = hash_files(&ctx(t), &paths, alg).unwrap();
            assert_eq!(hex(out[0].as_ref().unwrap()), one(alg, b"abc"));
            assert_eq!(hex(out[1].as_ref().unwrap()), one(alg, &big));
            assert_eq!(out[2].as_ref().unwrap_err().kind(), std::io::ErrorKind::NotFound);
            assert_eq!(out[3].as_ref().unwrap_err().raw_os_error(), Some(libc::EISDIR));
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Files around the subtree boundaries (split in round two) equal blake3::hash of their bytes,
/// mixed with missing files and a directory, at every thread setting.
#[test]
fn files_split_at_boundaries() {
    let dir = temp_dir("split");
    let subtree = 4096;
    let lens = boundary_lengths(subtree);
    let mut paths = Vec::new();
    let mut want = Vec::new();
    for (i, &n) in lens.iter().enumerate() {
        let data = pattern(n, i);
        let p = dir.join(format!("f{i}"));
        std::fs::write(&p, &data).unwrap();
        paths.push(p);
        want.push(Some(*blake3::hash(&data).as_bytes()));
        if i % 5 == 2 {
            paths.push(dir.join(format!("missing{i}")));
            want.push(None);
        }
    }
    paths.push(dir.clone());
    want.push(None);
    for t in settings() {
        let got = hash_files_split(&ctx(t), &paths, Algorithm::Blake3, subtree).unwrap();
        for ((g, w), p) in got.iter().zip(&want).zip(&paths) {
            match w {
                Some(w) => assert_eq!(g.as_ref().unwrap().as_bytes(), w, "{p:?} {t:?}"),
                None => assert!(g.is_err(), "{p:?}"),
            }
        }
    }
    // A piece past the end of the file (the file shrank after round one): UnexpectedEof.
    let short = &paths[lens.iter().position(|&n| n == 2 * subtree + 1).unwrap()];
    let err = file_piece_cv(&ctx(Threads::Caller), short, 2 * subtree as u64, subtree)
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Cancellation stops a split blob and a split file.
#[test]
fn cancelled_stops_split() {
    let c = ctx(Threads::Pool);
    c.cancel();
    let blob = vec![0u8; 4 * SUBTREE];
    assert_eq!(
        hash_many(&c, &[&blob[..]], Algorithm::Blake3),
        Err(crate::Error::Cancelled)
    );
    let c = ctx(Threads::Caller);
    c.cancel();
    assert_eq!(
        hash_many(&c, &[&blob[..]], Algorithm::Blake3),
        Err(crate::Error::Cancelled)
    );
}

/// This thread's CPU time in seconds (steadier than wall time on a loaded machine).
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Measurement, not a test: `cargo test --release -p gilfree-kernels sweep -- --ignored
/// --nocapture`. One 256 MiB blob on the calling thread, per subtree size: the CPU time (best
/// of 7) shows the cost of cutting it into more tasks; blake3::hash (its own tree, no tasks) is
/// the floor.
#[test]
#[ignore = "a measurement"]
#[allow(clippy::print_stdout)]
fn sweep_subtree() {
    let data = pattern(256 << 20, 1);
    let blobs = [&data[..]];
    let best_cpu = |f: &dyn Fn()| {
        let mut best = f64::MAX;
        for _ in 0..7 {
            let s = thread_cpu();
            f();
            best = best.min(thread_cpu() - s);
        }
        best
    };
    let floor = best_cpu(&|| {
        std::hint::black_box(blake3::hash(&data));
    });
    println!("blake3::hash: {:.1} ms CPU", floor * 1e3);
    let want = blake3::hash(&data);
    for subtree in [1usize << 14, 1 << 16, 1 << 18, 1 << 19, 1 << 20, 1 << 21, 1 << 22] {
        let cpu = best_cpu(&|| {
            let d = hash_many_split(&ctx(Threads::Caller), &blobs, Algorithm::Blake3, subtree).unwrap();
            assert_eq!(d[0].as_bytes(), want.as_bytes());
        });
        println!(
            "subtree {:>5} KiB: {:.1} ms CPU, {:+.2}% over blake3::hash",
            subtree >> 10,
            cpu * 1e3,
            (cpu / floor - 1.0) * 100.0
        );
    }
}
