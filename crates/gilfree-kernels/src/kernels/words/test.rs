use std::num::NonZeroUsize;

use proptest::prelude::*;

use super::*;
use crate::engine::{Ctx, Threads};
use crate::kernels::test_support::settings;

/// Python's whitespace, independently: Unicode `White_Space` (Rust's `char::is_whitespace`) and
/// the four information separators U+001C..=U+001F that CPython adds (bidirectional class B/S).
fn reference_ws(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `str.split()` by chars, then counts in first-occurrence order.
fn reference(texts: &[&str]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for t in texts {
        for w in t.split(reference_ws).filter(|w| !w.is_empty()) {
            match index.get(w) {
                Some(&i) => out[i].1 += 1,
                None => {
                    index.insert(w.to_owned(), out.len());
                    out.push((w.to_owned(), 1));
                }
            }
        }
    }
    out
}

fn run(texts: &[&str], threads: Threads, piece: usize) -> Vec<(String, u64)> {
    let bytes: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
    let ctx = Ctx::new(threads, None);
    word_count_with(&ctx, &bytes, piece)
        .unwrap()
        .into_iter()
        .map(|(w, n)| (String::from_utf8(w.to_vec()).unwrap(), n))
        .collect()
}

#[test]
fn table_is_python_whitespace() {
    let mut n = 0;
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        assert_eq!(is_py_whitespace(c as u32), reference_ws(c), "U+{:04X}", c as u32);
        let mut buf = [0u8; 4];
        let s = c.encode_utf8(&mut buf).as_bytes();
        let want = if reference_ws(c) { s.len() } else { 0 };
        assert_eq!(ws_len(s, 0), want, "U+{:04X}", c as u32);
        n += usize::from(want > 0);
    }
    assert_eq!(n, PY_WHITESPACE.len());
    for c in ['\u{200b}', '\u{180e}', '\u{feff}'] {
        assert!(!is_py_whitespace(c as u32));
    }
}

#[test]
fn surrogatepass_bytes_are_words() {
    // "a\ud800 b" encoded with surrogatepass.
    let text: &[u8] = b"a\xed\xa0\x80 b \xed\xa0\x80";
    let ctx = Ctx::new(Threads::Caller, None);
    let got = word_count(&ctx, &[text]).unwrap();
    let want: Vec<(&[u8], u64)> = vec![(b"a\xed\xa0\x80", 1), (b"b", 1), (b"\xed\xa0\x80", 1)];
    assert_eq!(got, want);
}

#[test]
fn pieces_cover_everything_and_cut_at_whitespace() {
    let long = "word\u{3000}other  x\u{2028}".repeat(500);
    let texts: Vec<&[u8]> = vec![b"", long.as_bytes(), b"ab", b"", b"c d", long.as_bytes(), b""];
    for piece in [1, 2, 7, 64, 1000, 1 << 20] {
        let ps = pieces(&texts, piece).unwrap();
        let (mut t, mut o) = (0, 0);
        for p in &ps {
            // Contiguous: each piece starts where the last ended (skipping empty texts).
            if o == texts[t].len() && (p.first, p.start) != (t, o) {
                t += 1;
                o = 0;
                while (p.first, p.start) != (t, o) && texts[t].is_empty() {
                    t += 1;
                }
            }
            assert_eq!((p.first, p.start), (t, o), "piece {piece}: {ps:?}");
            assert!(p.end <= texts[p.last].len());
            if p.end < texts[p.last].len() {
                assert!(ws_len(texts[p.last], p.end) > 0, "a cut inside a word");
            }
            (t, o) = (p.last, p.end);
        }
        let total: usize = texts.iter().map(|t| t.len()).sum();
        let covered: usize = ps
            .iter()
            .map(|p| {
                (p.first..=p.last)
                    .map(|i| {
                        let s = if i == p.first { p.start } else { 0 };
                        let e = if i == p.last { p.end } else { texts[i].len() };
                        e - s
                    })
                    .sum::<usize>()
            })
            .sum();
        assert_eq!(covered, total, "piece {piece}");
        if piece == 1 << 20 {
            assert_eq!(ps.len(), 1);
        }
    }
    assert!(pieces(&[], 8).unwrap().is_empty());
}

#[test]
fn same_result_at_every_thread_count_and_piece_size() {
    let text = (0..20_000)
        .map(|i| format!("w{} ", (i * 7919) % 1000))
        .collect::<String>()
        + "\u{85}tail\u{a0}end\u{1f}";
    let texts = [text.as_str(), "", "a b a", text.as_str()];
    let want = reference(&texts);
    for threads in settings() {
        for piece in [1, 5, 4096, CHECK_BYTES] {
            assert_eq!(run(&texts, threads, piece), want, "{threads:?} piece {piece}");
        }
    }
}

proptest! {
    #[test]
    fn matches_reference(texts in proptest::collection::vec(
        proptest::collection::vec(prop_oneof![
            Just(' '), Just('\u{1c}'), Just('\u{85}'), Just('\u{200b}'), Just('\u{3000}'),
            Just('\u{2029}'), Just('\u{feff}'), Just('a'), Just('b'), any::<char>()], 0..60)
            .prop_map(|v| v.into_iter().collect::<String>()), 0..5),
        piece in prop_oneof![1usize..40, 40usize..400],
        team in 1usize..5,
    ) {
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let threads = if team == 1 { Threads::Caller } else { Threads::AtMost(NonZeroUsize::new(team).unwrap()) };
        prop_assert_eq!(run(&texts, threads, piece), reference(&texts));
    }
}

/// `cargo test --release -p gilfree-kernels words::test::speed -- --ignored --nocapture`
#[test]
#[ignore = "a timing, not a test"]
#[allow(clippy::print_stdout)]
fn speed() {
    let few = "lorem ipsum dolor sit amet ".repeat(3_000_000);
    let many: String = (0..12_000_000u64)
        .map(|i| format!("w{} ", (i * 2_654_435_761) % 100_000))
        .collect();
    for (name, text) in [("few", &few), ("many", &many)] {
        let ctx = Ctx::new(Threads::Caller, None);
        let t = std::time::Instant::now();
        let n = pieces(&[text.as_bytes()], CHECK_BYTES).unwrap().len();
        let tp = t.elapsed();
        let t = std::time::Instant::now();
        let mut words = 0u64;
        for i in 0..text.len() / CHECK_BYTES {
            let p = &text.as_bytes()[i * CHECK_BYTES..(i + 1) * CHECK_BYTES];
            let mut c = Counter::new(WordHash::new());
            c.count(p).unwrap();
            words += c.words.len() as u64;
        }
        let tc = t.elapsed();
        let t = std::time::Instant::now();
        let r = word_count(&ctx, &[text.as_bytes()]).unwrap();
        let tw = t.elapsed();
        println!(
            "{name}: {:.1} MB, {n} pieces in {tp:?}; count only {tc:?} ({words}); word_count {tw:?} ({} words) = {:.0} MB/s",
            text.len() as f64 / 1e6,
            r.len(),
            text.len() as f64 / 1e6 / tw.as_secs_f64()
        );
    }
}

#[test]
fn piece_size_rule_and_checks_inside_pieces() {
    // One thread: the largest pieces (no merging to waste).
    assert_eq!(piece_bytes(0, 1), MAX_PIECE_BYTES);
    assert_eq!(piece_bytes(1 << 40, 1), MAX_PIECE_BYTES);
    // A team: two pieces per thread, from MIN_PIECE_BYTES to MAX_PIECE_BYTES.
    assert_eq!(piece_bytes(0, 2), MIN_PIECE_BYTES);
    assert_eq!(piece_bytes(1000, 2), MIN_PIECE_BYTES);
    assert_eq!(piece_bytes(32 << 20, 2), 8 << 20);
    assert_eq!(piece_bytes(64 << 10, 4), MIN_PIECE_BYTES);
    assert_eq!(piece_bytes(1 << 20, 4), 128 << 10);
    assert_eq!(piece_bytes(1 << 40, 2), MAX_PIECE_BYTES);
    assert_eq!(piece_bytes(usize::MAX, usize::MAX), MIN_PIECE_BYTES);
    // Twice MIN_PIECE_BYTES already makes two pieces; larger texts two pieces per thread.
    for (total, team, n) in [(2 * MIN_PIECE_BYTES, 2, 2), (1 << 20, 2, 4), (1 << 20, 4, 8)] {
        let text = "ab ".repeat(total / 3 + 1);
        let ps = pieces(&[text.as_bytes()], piece_bytes(text.len(), team)).unwrap();
        assert_eq!(ps.len(), n, "{total} bytes, team {team}");
    }
    // Pieces larger than CHECK_BYTES are counted in 1 MiB runs cut at whitespace (a check
    // between runs): the same words, wherever the runs fall.
    let text = "ab\u{3000}cd\u{85}é ".repeat(400_000);
    let want = reference(&[text.as_str()]);
    for piece in [3 << 20, 5 << 20, 64 << 20] {
        assert_eq!(run(&[text.as_str()], Threads::Pool, piece), want, "piece {piece}");
    }
}

/// The partition of a hash is below `k`, and uses neither the low (bucket) bits nor the top 7
/// (tag) bits of hashbrown.
#[test]
fn partitions_are_in_range_and_spread() {
    for k in [1, 2, 3, 8, 16, MAX_PARTITIONS] {
        assert!(partition(u64::MAX, k) < k);
        assert_eq!(partition(0, k), 0);
        // Neither the low 25 bits nor the top 7 move a hash to another partition.
        assert_eq!(partition((1 << 25) - 1, k), 0);
        assert_eq!(partition(0xFE00_0000_0000_0000, k), 0);
        let hasher = WordHash::new();
        let mut n = vec![0usize; k];
        for i in 0..10_000 * k {
            n[partition(hasher.hash_one(format!("w{i}").as_bytes()), k)] += 1;
        }
        assert!(n.iter().all(|&c| c > 9_000 && c < 11_000), "k {k}: {n:?}");
    }
    assert_eq!(partitions(1), 1);
    assert_eq!(partitions(2), 4);
    assert_eq!(partitions(1000), MAX_PARTITIONS);
}

fn teams() -> [Threads; 3] {
    [
        Threads::Caller,
        Threads::AtMost(NonZeroUsize::new(2).unwrap()),
        Threads::AtMost(NonZeroUsize::new(4).unwrap()),
    ]
}

/// Many pieces sharing words (down to pieces of one byte, a word each): the merge by partition
/// gives the reference, words in first-occurrence order, for every piece size and team.
#[test]
fn merge_matches_reference_for_many_piece_sizes() {
    // Many distinct words, each repeated in later pieces; words first seen late; empty and
    // whitespace-only texts; multi-byte whitespace.
    let distinct: String = (0..3000).map(|i| format!("d{i} ")).collect();
    let repeated: String = (0..3000)
        .map(|i| format!("d{} r{}\u{3000}", (i * 7) % 3000, i % 13))
        .collect();
    let late: String = (0..500).map(|i| format!("late{i}\u{2028}d{i}\u{85}")).collect();
    let texts = [
        "",
        " \t\n",
        distinct.as_str(),
        "\u{3000}\u{2029}\u{a0}\u{1f}",
        repeated.as_str(),
        "",
        "a b a",
        late.as_str(),
        "  ",
        "é\u{200b}x é\u{200b}x\u{feff}",
        distinct.as_str(),
    ];
    let want = reference(&texts);
    assert!(want.len() > 3500);
    for threads in teams() {
        for piece in [1, 2, 7, 64, 100, 1000, 4096, 30_000, 1 << 20] {
            assert_eq!(run(&texts, threads, piece), want, "{threads:?} piece {piece}");
        }
    }
}

/// Any number of partitions, not only those of `partitions` (odd ones, the most, one on a team),
/// gives the reference.
#[test]
fn every_partition_count_gives_the_same_result() {
    let text: String = (0..5000)
        .map(|i| format!("p{} q{}\u{2003}", (i * 31) % 1700, i % 7))
        .collect();
    let texts = [text.as_str(), "", "q1 new p3", text.as_str(), "last"];
    let want = reference(&texts);
    let bytes: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
    for threads in teams() {
        let ctx = Ctx::new(threads, None);
        for k in [1, 2, 3, 7, 16, MAX_PARTITIONS, 1000] {
            for piece in [1, 64, 4096, 1 << 20] {
                let got: Vec<(String, u64)> = count_words(&ctx, &bytes, piece, k)
                    .unwrap()
                    .into_iter()
                    .map(|(w, c)| (String::from_utf8(w.to_vec()).unwrap(), c))
                    .collect();
                assert_eq!(got, want, "{threads:?} k {k} piece {piece}");
            }
        }
    }
}

/// Inputs with no words at all, or one word, at every piece size.
#[test]
fn merge_of_empty_and_whitespace_only_texts() {
    let spaces = " \u{3000}\n".repeat(1000);
    for texts in [
        vec![],
        vec![""],
        vec!["", "", ""],
        vec![spaces.as_str(), "", spaces.as_str()],
        vec![spaces.as_str(), "x", spaces.as_str(), "x"],
    ] {
        let want = reference(&texts);
        for threads in teams() {
            for piece in [1, 7, 64, 1 << 20] {
                assert_eq!(
                    run(&texts, threads, piece),
                    want,
                    "{threads:?} piece {piece} {texts:?}"
                );
            }
        }
    }
}

/// `word_count` (the piece rule) equals the reference at every team size, from a few words to
/// many pieces.
#[test]
fn word_count_matches_reference_at_every_team_size() {
    for n in [1, 8, 64, 512] {
        let texts = bench_texts(n);
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let bytes: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        let want = reference(&texts);
        for threads in settings() {
            let got: Vec<(String, u64)> = word_count(&Ctx::new(threads, None), &bytes)
                .unwrap()
                .into_iter()
                .map(|(w, c)| (String::from_utf8(w.to_vec()).unwrap(), c))
                .collect();
            assert_eq!(got, want, "{threads:?} {n} texts");
        }
    }
}

/// A cancelled call stops with `Cancelled`, whichever phase notices it.
#[test]
fn cancelled_call_stops() {
    let texts = bench_texts(64);
    let bytes: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
    for threads in teams() {
        let ctx = Ctx::new(threads, None);
        ctx.cancel();
        for piece in [64, 1 << 20] {
            assert!(matches!(
                word_count_with(&ctx, &bytes, piece),
                Err(Error::Cancelled)
            ));
        }
    }
}

/// Texts like `benchmarks/bench_fanout.py`'s: `n` texts of 100 words drawn from "w0".."w499".
fn bench_texts(n: usize) -> Vec<String> {
    let mut s = n as u64;
    let mut next = move || {
        // splitmix64
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|_| {
            (0..100)
                .map(|_| format!("w{}", next() % 500))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// `cargo test --release -p gilfree-kernels words::test::timings -- --ignored --nocapture`:
/// `word_count` on the calling thread and on the pool, best per-call time of several rounds.
#[test]
#[ignore = "a timing, not a test"]
#[allow(clippy::print_stdout)]
fn timings() {
    let distinct: String = (0..100_000u64)
        .map(|i| format!("x{:08x} ", (i * 2_654_435_761) % (1 << 32)))
        .collect();
    let mut inputs: Vec<(String, Vec<String>)> = [8, 64, 128, 512, 2048, 16384]
        .into_iter()
        .map(|n| (format!("{n} texts x 100 words"), bench_texts(n)))
        .collect();
    inputs.push(("1 text, 100k distinct".into(), vec![distinct]));
    for (name, texts) in &inputs {
        let bytes: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        let total: usize = bytes.iter().map(|t| t.len()).sum();
        let mut best = [f64::INFINITY; 2];
        let settings = [Threads::Caller, Threads::Pool];
        // About 20 ms per round.
        let t = std::time::Instant::now();
        word_count(&Ctx::new(Threads::Caller, None), &bytes).unwrap();
        let iters = ((0.02 / t.elapsed().as_secs_f64()) as usize).clamp(1, 100_000);
        for _ in 0..15 {
            for (b, &threads) in best.iter_mut().zip(&settings) {
                let t = std::time::Instant::now();
                for _ in 0..iters {
                    let ctx = Ctx::new(threads, None);
                    std::hint::black_box(word_count(&ctx, &bytes).unwrap());
                }
                *b = b.min(t.elapsed().as_secs_f64() / iters as f64);
            }
        }
        println!(
            "{name:>24} {:>8.1} KB: caller {:>9.1} us, pool {:>9.1} us, {:.2}x",
            total as f64 / 1e3,
            best[0] * 1e6,
            best[1] * 1e6,
            best[0] / best[1]
        );
    }
}

#[test]
fn same_word_is_byte_equality() {
    // Every length up to 24, against a copy with one byte changed at each position (and one
    // byte longer or shorter).
    for n in 0..24usize {
        let a: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
        assert!(same_word(&a, &a.clone()));
        for i in 0..n {
            let mut b = a.clone();
            b[i] ^= 0x40;
            assert!(!same_word(&a, &b), "n={n} i={i}");
        }
        let mut longer = a.clone();
        longer.push(0);
        assert!(!same_word(&a, &longer));
        assert!(!same_word(&longer, &a));
    }
}
