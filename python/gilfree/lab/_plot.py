"""``gilfree bench --plot``: speedup against threads, and the break-even sweep, as a PNG.

matplotlib (the ``bench`` extra) is imported only here, with the Agg backend (no display needed).
One row per workload, two panels: the speedup of every timed strategy over its own one-thread
run against the thread count, with the ideal line; and the break-even sweep, speedup against the
task time (log scale) with the one-thread line and the break-even line (1.1x).
"""

from __future__ import annotations

from typing import Any

from gilfree.lab import _metrics
from gilfree.lab._bench import BenchResult

__all__ = ["plot"]


def plot(result: BenchResult, path: str) -> None:
    """Draws ``result`` to ``path`` (a PNG). ImportError if matplotlib is missing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(1, len(result.workloads))
    height = 4.2 * rows + 0.4
    fig, axes = plt.subplots(rows, 2, figsize=(12, height), squeeze=False)
    try:
        for (left, right), w in zip(axes, result.workloads, strict=False):
            _speedup_panel(left, w, result)
            _sweep_panel(right, w)
        fig.suptitle(
            f"gilfree bench · {result.machine['cpu']}, {result.machine['cores']} cores · "
            f"{result.machine['python']}",
            fontsize=10,
        )
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / height))  # room for the title
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def _speedup_panel(ax: Any, w: Any, result: BenchResult) -> None:
    import matplotlib

    counts = [int(n) for n in result.settings["threads"]]
    top = max(counts)
    ax.plot([1, top], [1, top], color="0.6", linestyle="--", linewidth=1, label="ideal")
    # One colour and marker per strategy, fixed by its place in the registry (more strategies than
    # the default ten-colour cycle: two would otherwise share a colour).
    colours = matplotlib.colormaps["tab20"]
    markers = "osD^v<>phX*P"
    for k, s in enumerate(w.strategies):
        runs = [r for r in s.runs if r.speedup_own is not None]
        if s.status != "ok" or len(runs) < 2:
            continue
        ax.plot(
            [r.threads for r in runs],
            [r.speedup_own for r in runs],
            marker=markers[k % len(markers)],
            color=colours(k % 20),
            linewidth=1.5,
            label=s.name,
        )
    ax.set_title(f"{w.name}: speedup over the strategy's own 1-thread run", fontsize=10)
    ax.set_xlabel("threads")
    ax.set_ylabel("speedup")
    ax.set_xticks(counts)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")


def _sweep_panel(ax: Any, w: Any) -> None:
    ax.axhline(1.0, color="0.4", linewidth=1, label="1 thread")
    level = _metrics.BEATS_ONE
    ax.axhline(level, color="0.4", linewidth=1, linestyle=":", label=f"break-even ({level}x)")
    sweep = w.sweep
    if sweep is None or not sweep.points:
        ax.text(0.5, 0.5, "no break-even sweep", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    ax.axhline(
        sweep.threads, color="0.6", linestyle="--", linewidth=1, label=f"ideal ({sweep.threads} threads)"
    )
    for name, attr in (("native-nogil-executor", "executor_speedup"), ("native-pool", "pool_speedup")):
        points = [(p.serial * 1e6, getattr(p, attr)) for p in sweep.points if getattr(p, attr) is not None]
        if not points:
            continue
        (line,) = ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=name)
        be = sweep.break_even.get(name)
        if be is not None and be.status == "crosses" and be.seconds is not None:
            ax.axvline(be.seconds * 1e6, color=line.get_color(), linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_title(f"{w.name}: break-even sweep on {sweep.threads} threads", fontsize=10)
    ax.set_xlabel("task time on one thread (µs)")
    ax.set_ylabel("speedup over one thread")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left")
