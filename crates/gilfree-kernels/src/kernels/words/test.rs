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
        for piece in [1, 5, 4096, PIECE_BYTES] {
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
        piece in 1usize..40,
    ) {
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        prop_assert_eq!(run(&texts, Threads::AtMost(NonZeroUsize::new(2).unwrap()), piece), reference(&texts));
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
        let n = pieces(&[text.as_bytes()], PIECE_BYTES).unwrap().len();
        let tp = t.elapsed();
        let t = std::time::Instant::now();
        let mut words = 0u64;
        for i in 0..text.len() / PIECE_BYTES {
            let p = &text.as_bytes()[i * PIECE_BYTES..(i + 1) * PIECE_BYTES];
            let mut c = Counter::new();
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
    assert_eq!(piece_bytes(0), PIECE_BYTES);
    assert_eq!(piece_bytes(32 << 20), 2 << 20);
    assert_eq!(piece_bytes(1 << 40), MAX_PIECE_BYTES);
    // Pieces larger than PIECE_BYTES are counted in 1 MiB runs cut at whitespace (a check
    // between runs): the same words, wherever the runs fall.
    let text = "ab\u{3000}cd\u{85}é ".repeat(400_000);
    let want = reference(&[text.as_str()]);
    for piece in [3 << 20, 5 << 20, 64 << 20] {
        assert_eq!(run(&[text.as_str()], Threads::Pool, piece), want, "piece {piece}");
    }
}
