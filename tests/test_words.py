"""word_count: the words of ``str.split()`` exactly (Python's whitespace, every code point checked
against ``str.isspace()``), equal to ``collections.Counter`` on hypothesis text over the whole
Unicode range and on a multi-megabyte corpus of CPython's own sources, the same at every
``threads=``, lone surrogates, bad inputs, Ctrl-C, and the Executor task form.
"""

from __future__ import annotations

import functools
import sys
import sysconfig
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from _sigint import check_after, interrupt_call, posix_only
from hypothesis import given, settings
from hypothesis import strategies as st

import gilfree

PIECE = 1 << 20  # gilfree_kernels::kernels::words::CHECK_BYTES (cuts inside a piece)

#: Python's whitespace, as documented in the kernel (checked against str.isspace below).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
#: Whitespace for Rust (or other definitions) but not for Python, or the reverse.
TRICKY = "\u200b\u180e\ufeff\u200e\u200f\x1c\x85"


def reference(texts: str | Iterable[str]) -> Counter[str]:
    if isinstance(texts, str):
        texts = [texts]
    return Counter(w for t in texts for w in t.split())


@functools.cache
def corpus() -> str:
    """~6 MB of real text: CPython's standard library sources, in a fixed order, repeated."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    size = 0
    for path in sorted(stdlib.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        size += len(text)
        if size > 6_000_000:
            break
    text = "".join(parts)
    while len(text) < 6_000_000:
        text += text
    return text


def test_python_whitespace_is_every_isspace_code_point() -> None:
    assert {c for c in WHITESPACE} == {chr(c) for c in range(0x110000) if chr(c).isspace()}


def test_every_code_point() -> None:
    """Each code point (not surrogates) as its own word between spaces: whitespace ones vanish."""
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    text = " ".join(chars)
    got = gilfree.word_count(text)
    assert set(got) == {c for c in chars if not c.isspace()}
    assert got == reference(text)
    # And glued between letters: a whitespace code point splits, any other joins.
    for c in WHITESPACE + TRICKY:
        assert gilfree.word_count(f"a{c}b") == reference(f"a{c}b"), hex(ord(c))


def test_examples() -> None:
    assert gilfree.word_count("") == {}
    assert gilfree.word_count([]) == {}
    assert gilfree.word_count(["", " \u3000\x1c "]) == {}
    assert gilfree.word_count("the cat and the hat") == {"the": 2, "cat": 1, "and": 1, "hat": 1}
    text = "x\u200by \u180e\ufeff a\x85b\u2029"
    assert gilfree.word_count(text) == reference(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(
            st.one_of(
                st.characters(),  # every category but surrogates
                st.sampled_from(WHITESPACE + TRICKY),
                st.sampled_from("ab"),
            )
        ),
        max_size=6,
    ),
    st.sampled_from([1, 2, None]),
)
def test_matches_counter(texts: list[str], threads: int | None) -> None:
    got = gilfree.word_count(texts, threads=threads)
    want = reference(texts)
    assert got == want
    assert list(got) == list(want)  # first-occurrence order, as Counter


@settings(max_examples=100, deadline=None)
@given(
    st.text(
        st.one_of(
            st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
            st.characters(),
            st.sampled_from(WHITESPACE + TRICKY),
        ),
        max_size=40,
    )
)
def test_lone_surrogates(text: str) -> None:
    """A str with lone surrogates has no UTF-8: counted on its surrogatepass bytes."""
    assert gilfree.word_count([text, "a\ud800 b"]) == reference([text, "a\ud800 b"])


def test_surrogates_explicit() -> None:
    text = "a\ud800 b\udfff\ud800 a\ud800 \ud83d\ude00 b"
    assert gilfree.word_count(text) == reference(text)
    assert gilfree.word_count(["a\ud800", "a\ud800 x"]) == {"a\ud800": 2, "x": 1}


def test_corpus_matches_counter_at_every_thread_count() -> None:
    text = corpus()
    assert len(text.encode()) > 5 * PIECE
    want = reference(text)
    results = [gilfree.word_count(text, threads=t) for t in (1, 2, None)]
    for got in results:
        assert got == want
        assert list(got) == list(want)
    # The same text as many lines (packed into pieces) and with pieces cut inside long texts.
    lines = text.splitlines(keepends=True)[:50_000]
    assert gilfree.word_count(lines, threads=2) == reference(lines)
    mixed = [text[:3_000_000], "", text[3_000_000:]]
    assert gilfree.word_count(mixed) == reference(mixed)


def test_piece_edges() -> None:
    """Words and multi-byte whitespace straddling the 1 MiB cut positions."""
    for pad in (PIECE - 3, PIECE - 2, PIECE - 1, PIECE, PIECE + 1):
        for sep in (" ", "\u3000", "\x85", "\u2028"):
            text = "é" * (pad // 2) + sep + "word" + sep + "x" * PIECE + sep + "tail"
            assert gilfree.word_count(text, threads=2) == reference(text)
            assert gilfree.word_count([text, text[:pad]], threads=2) == reference([text, text[:pad]])


def test_iterables_and_str_subclasses() -> None:
    class S(str):
        pass

    assert gilfree.word_count(("a b", "b")) == {"a": 1, "b": 2}
    assert gilfree.word_count(t for t in ["a", "a"]) == {"a": 2}
    assert gilfree.word_count(S("x y x")) == {"x": 2, "y": 1}
    assert gilfree.word_count([S("x"), "x"]) == {"x": 2}
    # Keys are plain str.
    assert all(type(k) is str for k in gilfree.word_count([S("x")]))


@pytest.mark.parametrize(
    ("texts", "match"),
    [
        (b"a b", "texts must be a str or a sequence of str, got bytes"),
        (bytearray(b"a"), "got bytearray"),
        (memoryview(b"a"), "got memoryview"),
        (5, "got int"),
        (None, "got NoneType"),
        (["a", 3], r"texts\[1\] must be a str, got int"),
        (["a", "b", b"c"], r"texts\[2\] must be a str, got bytes"),
        ([None], r"texts\[0\] must be a str, got NoneType"),
    ],
)
def test_bad_texts(texts: object, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        gilfree.word_count(texts)  # type: ignore[arg-type]


def test_bad_threads_and_arguments() -> None:
    with pytest.raises(ValueError):
        gilfree.word_count("a", threads=0)
    with pytest.raises(TypeError):
        gilfree.word_count("a", threads="2")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gilfree.word_count("a", 2)  # type: ignore[misc]

    def failing() -> Iterable[str]:
        yield "a"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        gilfree.word_count(failing())


def test_executor_task(executor: gilfree.Executor) -> None:
    assert gilfree.Executor.is_native(gilfree.word_count)
    text = corpus()[:2_000_000]
    texts = [text, "a\ud800 b", "x y x"]
    futures = [executor.submit(gilfree.word_count, texts) for _ in range(3)]
    want = gilfree.word_count(texts)
    assert want == reference(texts)
    for f in futures:
        got = f.result()
        assert got == want
        assert list(got) == list(want)
    assert executor.submit(gilfree.word_count, "a b a", threads=1).result() == {"a": 2, "b": 1}
    with pytest.raises(ValueError, match="threads=2"):
        executor.submit(gilfree.word_count, "a", threads=2)
    with pytest.raises(TypeError, match=r"texts\[0\]"):
        executor.submit(gilfree.word_count, [1])


def test_texts_stay_alive_in_a_task(executor: gilfree.Executor) -> None:
    """The task holds the strs: dropping the caller's references does not free the bytes."""
    texts = ["".join(f"w{i % 997} " for i in range(200_000)) + str(k) for k in range(4)]
    want = reference(texts)
    future = executor.submit(gilfree.word_count, texts)
    del texts
    assert future.result() == want


@posix_only
@pytest.mark.parametrize("threads", [None, 1])
def test_ctrl_c_stops_a_long_count(threads: int | None) -> None:
    child = interrupt_call(
        f"gilfree.word_count(TEXTS, threads={threads!r})  # ~24 GB of counting",
        setup="TEXTS = ['lorem ipsum dolor sit amet ' * 300_000] * 3000",
        after=f'print("NEXT_COUNT", gilfree.word_count("a b a", threads={threads!r})["a"], flush=True)',
    )
    check_after(child, f"word_count(threads={threads})")
    assert child.value("NEXT_COUNT") == "2", child.describe()


def test_version_note() -> None:
    """The whitespace table is CPython's for every version we support (it has not changed)."""
    assert sys.version_info >= (3, 9)
    assert "".join(sorted(WHITESPACE)).isspace()


def test_many_pieces_merged_in_first_occurrence_order() -> None:
    # ~600 KB of texts: pieces of ~16-150 KiB on several threads, their tables merged in
    # partitions by hash; the dict is Counter's, in the same order, at every thread count.
    rng = np.random.default_rng(7)
    vocab = [f"w{i}" for i in range(3000)] + ["é", "naïve", "日本", "a\u200bb"]
    seps = [" ", "\t", "\u3000", "\x1c", "\n  "]
    texts = []
    for length in rng.integers(0, 120, 2000):
        words, gaps = rng.integers(0, len(vocab), length), rng.integers(0, len(seps), length)
        texts.append("".join(vocab[w] + seps[g] for w, g in zip(words, gaps, strict=True)))
    texts.append("late-first-occurrence " * 3)
    want = list(Counter(w for t in texts for w in t.split()).items())
    for threads in (1, 2, None):
        assert list(gilfree.word_count(texts, threads=threads).items()) == want
