"""``gilfree bench``'s terminal report: a table per workload, the break-even sweep and the verdict.

Drawn with rich when it is installed (the ``bench`` extra), as plain aligned text otherwise; the
content is the same.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from typing import TextIO

from gilfree.lab._bench import BenchResult, WorkloadResult
from gilfree.lab._metrics import format_seconds
from gilfree.lab._strategies import STRATEGIES
from gilfree.lab._workloads import WORKLOADS

__all__ = ["format_list", "format_time", "print_report", "report_text"]

#: The report fits an 80-column terminal: the strategy names take 21 columns, these headers and
#: their cells the rest (tasks per run are in the notes below the table, as they differ only
#: between the python-* rows and the others).
WIDTH = 80
_HEADER = ("strategy", "N", "wall ±", "per task", "vs 1T", "vs python", "eff.", "GIL")
_RIGHT = {1, 2, 3, 4, 5, 6, 7}


def format_time(seconds: float | None) -> str:
    """Seconds to three significant digits in ns/µs/ms/s.

    >>> format_time(0.0123), format_time(2.4e-4), format_time(1.5), format_time(None)
    ('12.3 ms', '240 µs', '1.50 s', '')
    """
    if seconds is None:
        return ""
    for unit, factor in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= factor * 0.99995 or unit == "ns":
            value = seconds / factor
            digits = 2 if value < 10 else 1 if value < 100 else 0
            return f"{value:.{digits}f} {unit}"
    raise AssertionError("unreachable")


def _times(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"


def _rows(w: WorkloadResult) -> list[tuple[list[str], str]]:
    """Table rows (cells, style): style is "" or the status of a strategy that was not timed."""
    rows: list[tuple[list[str], str]] = []
    for s in w.strategies:
        if s.status != "ok" and not s.runs:
            label = {"skipped": "skipped", "wrong": "WRONG ANSWER", "error": "ERROR"}.get(s.status, "not run")
            rows.append(([s.name, "", label, "", "", "", "", ""], s.status))
            continue
        for i, r in enumerate(s.runs):
            rows.append(
                (
                    [
                        s.name if i == 0 else "",
                        str(r.threads),
                        f"{format_time(r.median)} ±{(r.spread or 0.0) * 100:>2.0f}%",
                        format_time(r.per_task),
                        _times(r.speedup_own) if r.threads > 1 else "",
                        _times(r.speedup_serial),
                        f"{r.efficiency:.2f}" if r.efficiency is not None and r.threads > 1 else "",
                        f"{(r.gil_share or 0.0) * 100:.0f}%",
                    ],
                    "" if s.status == "ok" else s.status,
                )
            )
    return rows


def _machine_line(result: BenchResult) -> str:
    m = result.machine
    gil = "free-threaded" if m.get("free_threaded") else "GIL"
    if m.get("free_threaded"):
        gil += ", GIL " + ("enabled" if m.get("gil_enabled") else "disabled")
    load = m.get("load_average")
    return (
        f"gilfree {m['gilfree_version']} ({m['gilfree_profile']}) · {m['python']} ({gil}) · "
        f"{m['cpu']}, {m['cores']} cores · pool {m['threads']} threads (from {m['threads_source']})"
        + (f" · load {load[0]:.1f} at start" if load else "")
    )


def _notes(w: WorkloadResult, result: BenchResult) -> list[str]:
    notes = []
    legend = (
        "N = threads; vs 1T = the strategy's own 1-thread time per task / this one; vs python = "
        "python-serial's time per task / this one; eff. = vs 1T / N."
    )
    if w.python_tasks is not None:
        notes.append(
            f"python-* strategies run {w.python_tasks} tasks, the others {w.native_tasks}: compare time "
            f"per task. {legend}"
        )
    else:
        notes.append(f"{w.native_tasks} tasks per run. {legend}")
    if w.probe is not None:
        one = w.probe["rows"][0]
        notes.append(
            f"probe (gilfree.probe, one task, before timing): {w.probe['verdict']} "
            f"[1 thread: GIL held {one['gil_share']:.0%}, {one['cpu']:.2f} cores busy]"
        )
    notes.extend(f"warning: {text}" for text in w.warnings)
    reference = "the kernel" if w.probe is None else "the function at one thread"
    notes.append(
        f"every answer was checked against {reference} on {w.checked_tasks} tasks first; wall = median of "
        f"{result.settings['repeat']} runs after a warm-up, ± = half their range; GIL = share of the run "
        "a heartbeat thread waited for the GIL."
    )
    if any(s.name == "python-processes" and s.status == "ok" for s in w.strategies):
        notes.append(
            f"python-processes starts its {result.settings['process_start_method']} workers inside every "
            "timed run: that start-up is its price."
        )
    for s in w.strategies:
        if s.version:
            notes.append(f"{s.name}: {s.version}, compiled in {s.setup_seconds or 0.0:.1f} s before timing.")
        if s.status in ("skipped", "wrong", "error", "interrupted") and s.reason:
            notes.append(f"{s.status} {s.name}: {s.reason}")
        elif s.status == "interrupted":
            notes.append(f"interrupted {s.name}: Ctrl-C (partial)")
    return notes


def _sweep_rows(w: WorkloadResult) -> tuple[list[str], list[list[str]]]:
    assert w.sweep is not None
    n = w.sweep.threads
    header = ["task time (1 thread)", "tasks"]
    has_exec = any(p.executor is not None for p in w.sweep.points)
    has_pool = any(p.pool is not None for p in w.sweep.points)
    if has_exec:
        header.append(f"executor ×{n}")
    if has_pool:
        header.append(f"pool ×{n}")
    rows = []
    for p in w.sweep.points:
        row = [format_time(p.serial), str(p.tasks)]
        if has_exec:
            row.append(_times(p.executor_speedup))
        if has_pool:
            row.append(_times(p.pool_speedup))
        rows.append(row)
    return header, rows


def _crossing_text(w: WorkloadResult) -> list[str]:
    assert w.sweep is not None
    out = []
    for name, be in w.sweep.break_even.items():
        well = w.sweep.pays_well.get(name)
        if be.status == "crosses":
            text = f"faster than one thread above {format_seconds(be.seconds)} per task"
        elif be.status == "always":
            text = f"faster than one thread at every size (from {format_seconds(be.smallest)})"
        else:
            text = f"never faster than one thread (up to {format_seconds(be.largest)})"
        if well is not None and well.status == "crosses":
            text += f", efficiency >= 0.8 above {format_seconds(well.seconds)}"
        elif well is not None and well.status == "always":
            text += ", efficiency >= 0.8 throughout"
        out.append(f"{name}: {text}")
    return out


def _plain_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    return [line(header), "  ".join("-" * wd for wd in widths), *(line(r) for r in rows)]


def _wrap(text: str, indent: str = "") -> list[str]:
    """``text`` in lines of at most :data:`WIDTH` columns, continued with two more spaces."""
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ") or [""]


def report_text(result: BenchResult) -> str:
    """The report as plain text (what is printed when rich is not installed), in 80 columns."""
    lines = [*_wrap(_machine_line(result)), ""]
    for w in result.workloads:
        lines.extend(_wrap(f"{w.name}: {w.title} (size ×{w.scale:g})"))
        lines.extend(_plain_table(_HEADER, [cells for cells, _ in _rows(w)], _RIGHT))
        for note in _notes(w, result):
            lines.extend(_wrap(note, "  "))
        if w.sweep is not None and w.sweep.points:
            header, rows = _sweep_rows(w)
            lines.append("")
            lines.extend(
                _wrap(
                    f"break-even sweep on {w.sweep.threads} threads "
                    "(speedup over a plain loop on one thread):"
                )
            )
            lines.extend(_plain_table(header, rows, set(range(len(header)))))
            for t in _crossing_text(w):
                lines.extend(_wrap(t, "  "))
        lines.append("")
        lines.extend(_wrap(f"verdict: {w.verdict}"))
        lines.append("")
    if len(result.workloads) > 1:
        lines.append("verdicts:")
        for w in result.workloads:
            lines.extend(_wrap(f"{w.name}: {w.verdict}", "  "))
    if result.interrupted:
        lines.append("interrupted (Ctrl-C): partial results")
    return "\n".join(lines).rstrip() + "\n"


def _print_rich(result: BenchResult, stream: TextIO) -> None:
    from rich import box
    from rich.console import Console
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    console = Console(file=stream)
    if not console.is_terminal:
        console = Console(file=stream, width=WIDTH)

    def table(title: str | None = None) -> Table:
        # No vertical rules, two spaces between columns: the table fits 80 columns (78 wide).
        return Table(
            title=title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )

    console.print(_machine_line(result), style="dim", highlight=False)
    styles = {"skipped": "dim", "wrong": "bold red", "error": "bold red", "interrupted": "yellow"}
    for w in result.workloads:
        main = table(f"{w.name}: {w.title} (size ×{w.scale:g})")
        for i, name in enumerate(_HEADER):
            main.add_column(name, justify="right" if i in _RIGHT else "left", no_wrap=True)
        for cells, status in _rows(w):
            main.add_row(*cells, style=styles.get(status))
        console.print(main)
        for note in _notes(w, result):
            console.print(Padding(Text(note, style="dim"), (0, 0, 0, 2)))
        if w.sweep is not None and w.sweep.points:
            header, rows = _sweep_rows(w)
            console.print(
                f"break-even sweep on {w.sweep.threads} threads (speedup over a plain loop on one thread)",
                style="italic",
                highlight=False,
            )
            sweep = table()
            for name in header:
                sweep.add_column(name, justify="right")
            for row in rows:
                sweep.add_row(*row)
            console.print(sweep)
            for text in _crossing_text(w):
                console.print(Padding(Text(text), (0, 0, 0, 2)))
        console.print(f"verdict: {w.verdict}", style="bold", highlight=False)
        console.print()
    if len(result.workloads) > 1:
        console.print("verdicts:", style="bold")
        for w in result.workloads:
            console.print(Padding(Text(f"{w.name}: {w.verdict}"), (0, 0, 0, 2)))
    if result.interrupted:
        console.print("interrupted (Ctrl-C): partial results", style="yellow")


def print_report(result: BenchResult, stream: TextIO | None = None, *, rich: bool | None = None) -> None:
    """Prints the report to ``stream`` (stdout): with rich when installed (or ``rich=True``)."""
    out = sys.stdout if stream is None else stream
    if rich is not False:
        try:
            _print_rich(result, out)
            return
        except ImportError:
            if rich:
                raise
    out.write(report_text(result))
    out.flush()


def format_list() -> str:
    """What ``gilfree bench --list`` prints: the workloads and the strategies."""
    lines = ["workloads:"]
    width = max(len(n) for n in WORKLOADS)
    lines += [f"  {name:<{width}}  {w.title}" for name, w in WORKLOADS.items()]
    lines.append("  MODULE:ATTR  your own function: a gilfree.lab.Workload in an importable module")
    lines.append("strategies:")
    width = max(len(n) for n in STRATEGIES)
    lines += [f"  {name:<{width}}  {s.description}" for name, s in STRATEGIES.items()]
    return "\n".join(lines)
