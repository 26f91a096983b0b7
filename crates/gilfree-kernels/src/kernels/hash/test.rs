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
fn task_starts_cover() {
    let sizes = [0usize, TASK_BYTES, 1, 2, TASK_BYTES - 3, 5];
    let starts = task_starts(sizes.iter().copied(), sizes.len()).unwrap();
    assert_eq!(starts, vec![0, 2, 5, 6]);
    assert_eq!(task_starts(std::iter::empty(), 0).unwrap(), vec![0]);
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

#[test]
fn files() {
    let dir = std::env::temp_dir().join(format!("gilfree-hash-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big: Vec<u8> = (0..(PIECE * 2 + 7)).map(|i| (i % 253) as u8).collect();
    let a = dir.join("a");
    let b = dir.join("b");
    std::fs::write(&a, b"abc").unwrap();
    std::fs::write(&b, &big).unwrap();
    let missing = dir.join("missing");
    let paths = [a.clone(), b.clone(), missing, dir.clone()];
    for t in settings() {
        let out = hash_files(&ctx(t), &paths, Algorithm::Blake3).unwrap();
        assert_eq!(hex(out[0].as_ref().unwrap()), one(Algorithm::Blake3, b"abc"));
        assert_eq!(out[1].as_ref().unwrap().as_bytes(), blake3::hash(&big).as_bytes());
        assert_eq!(out[2].as_ref().unwrap_err().kind(), std::io::ErrorKind::NotFound);
        assert_eq!(out[3].as_ref().unwrap_err().raw_os_error(), Some(libc::EISDIR));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
