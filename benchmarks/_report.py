"""Plain-text report helpers shared by the benchmark scripts (imported from the script's own
folder: ``python benchmarks/bench_*.py`` puts it on ``sys.path``)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_table", "ratio"]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        cols = enumerate(zip(cells, widths, strict=True))
        parts = [f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in cols]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def ratio(x: float) -> str:
    """A speed ratio, for a table cell."""
    return f"{x:.2f}x"
