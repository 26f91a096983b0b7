"""``gilfree.dask`` vs ``dask.array``'s own reductions on the same cluster (issue 12).

Rows (default: 1e8 float64 N(0, 1) in 16 chunks, persisted on an in-process
``LocalCluster(n_workers=1, threads_per_worker=<cores>)`` before timing, so that only the
reductions are timed):

* ``var``: ``x.var()`` vs ``gilfree.dask.var(x)``; target >= 3x.
* ``histogram``: ``dask.array.histogram(x, bins=100, range=(-5, 5))`` vs
  ``gilfree.dask.histogram`` with the same arguments.

``--sizing`` adds the pool-sizing figures of docs/dask.md: ``gilfree.dask.var`` over the same
chunks on a worker of 1 thread and of 2 threads (pool of ``cores`` threads either way; the
2-thread worker also with ``threads=1`` per call), and on 2 worker processes of 1 thread each with
the default pool (``cores`` threads per process) and with ``PoolPlugin`` (1 per process).

Correctness comes first: every contender's result is checked against NumPy on the gathered array
(var rtol 1e-12, histogram exact); a wrong one is reported WRONG and not timed (exit status 2).

Usage::

    python benchmarks/bench_dask.py                       # 1e8 elements, 3 rounds (< 1 min)
    python benchmarks/bench_dask.py --size 2e7 --chunks 8 --sizing --json bench-results/dask.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _report import format_table, measure, ms, print_facts, ratio, run_facts, write_json

import gilfree

try:
    import dask.array as da
    import distributed

    import gilfree.dask as gd
except ImportError as exc:  # pragma: no cover
    sys.exit(f"bench_dask.py needs the dask extra: pip install 'gilfree[dask]' ({exc})")

BINS, RANGE = 100, (-5.0, 5.0)


def _cluster(**kw: Any) -> tuple[Any, Any]:
    cluster = distributed.LocalCluster(dashboard_address=None, silence_logs=50, **kw)
    return cluster, distributed.Client(cluster)


def _data(client: Any, size: int, chunks: int) -> tuple[Any, np.ndarray | None]:
    """The array, made on the workers and persisted there, and (when small enough) a copy here."""
    per = -(-size // chunks)
    x = da.random.default_rng(12).normal(size=size, chunks=per)
    x = client.persist(x)
    distributed.wait(x)
    return x, None


def compare(args: argparse.Namespace, failures: list[str]) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    cluster, client = _cluster(processes=False, n_workers=1, threads_per_worker=cores)
    try:
        x, _ = _data(client, args.size, args.chunks)
        a = client.compute(x).result()  # the gathered array: the reference's input
        want_var = float(a.var())
        want_hist = np.histogram(a, bins=BINS, range=RANGE)[0]
        del a
        cases: dict[str, Callable[[], object]] = {
            "var dask": lambda: client.compute(x.var()).result(),
            "var gilfree.dask": lambda: client.compute(gd.var(x)).result(),
            "histogram dask": lambda: client.compute(da.histogram(x, bins=BINS, range=RANGE)[0]).result(),
            "histogram gilfree.dask": lambda: client.compute(
                gd.histogram(x, bins=BINS, range=RANGE)[0]
            ).result(),
        }
        live: dict[str, Callable[[], object]] = {}
        for name, fn in cases.items():
            got = fn()
            ok = (
                bool(np.isclose(float(got), want_var, rtol=1e-12))  # type: ignore[arg-type]
                if name.startswith("var")
                else bool(np.array_equal(got, want_hist))  # type: ignore[arg-type]
            )
            if ok:
                live[name] = fn
            else:
                failures.append(f"{name}: {got!r}")
        timings = measure(live, repeat=args.repeat, warmup=args.warmup - 1)
    finally:
        client.close()
        cluster.close()
    rows, out = [], {}
    for op in ("var", "histogram"):
        d, g = timings.get(f"{op} dask"), timings.get(f"{op} gilfree.dask")
        if d is None or g is None:
            rows.append([op, "WRONG", "WRONG", "-"])
            continue
        r = d.get(args.stat) / g.get(args.stat)
        rows.append([op, ms(d.get(args.stat)), ms(g.get(args.stat)), ratio(r)])
        out[op] = {"dask": d.to_json(), "gilfree_dask": g.to_json(), "ratio": r}
    print(
        f"\n{args.size:,.0f} float64 in {args.chunks} chunks, "
        f"LocalCluster(1 worker x {cores} threads), persisted:"
    )
    print(format_table(["op", "dask ms", "gilfree.dask ms", "ratio"], rows))
    if "var" in out:
        verdict = "met" if out["var"]["ratio"] >= 3 else "MISSED"
        print(f"var target >= 3x: {verdict} ({out['var']['ratio']:.2f}x)")
    return out


def _var_rate(client: Any, args: argparse.Namespace, threads: int | None) -> float:
    """Chunks per second of ``gilfree.dask.var`` over the persisted array (best of --repeat)."""
    x, _ = _data(client, args.size, args.chunks)
    client.compute(gd.var(x, threads=threads)).result()
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        client.compute(gd.var(x, threads=threads)).result()
        best = min(best, time.perf_counter() - t0)
    return args.chunks / best


def sizing(args: argparse.Namespace) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    configs: list[tuple[str, dict[str, Any], int | None, bool]] = [
        (
            "1 worker x 1 thread, pool",
            {"processes": False, "n_workers": 1, "threads_per_worker": 1},
            None,
            False,
        ),
        (
            "1 worker x 2 threads, pool",
            {"processes": False, "n_workers": 1, "threads_per_worker": 2},
            None,
            False,
        ),
        (
            "1 worker x 2 threads, threads=1",
            {"processes": False, "n_workers": 1, "threads_per_worker": 2},
            1,
            False,
        ),
        (
            "2 procs x 1 thread, default pool",
            {"processes": True, "n_workers": 2, "threads_per_worker": 1},
            None,
            False,
        ),
        (
            "2 procs x 1 thread, PoolPlugin",
            {"processes": True, "n_workers": 2, "threads_per_worker": 1},
            None,
            True,
        ),
    ]
    rows, out = [], {}
    for label, kw, threads, plugin in configs:
        cluster, client = _cluster(**kw)
        try:
            if plugin:
                client.register_plugin(gd.PoolPlugin())
            pools = sorted(client.run(gilfree.get_num_threads).values())
            rate = _var_rate(client, args, threads)
        finally:
            client.close()
            cluster.close()
        mb = rate * args.size / args.chunks * 8 / 1e6
        rows.append([label, ",".join(map(str, pools)), f"{rate:,.1f}", f"{mb:,.0f}"])
        out[label] = {"pool_sizes": pools, "chunks_per_s": rate, "mb_per_s": mb}
    per = -(-args.size // args.chunks)
    print(f"\ngilfree.dask.var throughput, {args.chunks} chunks of {per:,} float64, {cores} cores:")
    print(format_table(["cluster", "pool per process", "chunks/s", "MB/s"], rows))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--size", type=float, default=1e8, help="elements (default 1e8)")
    p.add_argument("--chunks", type=int, default=16, help="chunks (default 16)")
    p.add_argument("--repeat", type=int, default=3, help="timed rounds (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls, the first the check (default 1)")
    p.add_argument("--stat", choices=("min", "median"), default="min")
    p.add_argument("--sizing", action="store_true", help="also the pool-sizing throughput table")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every result to FILE")
    args = p.parse_args(argv)
    args.size = int(args.size)
    if args.repeat < 1 or args.warmup < 1 or args.chunks < 1 or args.size < args.chunks:
        p.error("--repeat, --warmup, --chunks must be >= 1 and --size >= --chunks")
    facts = {**run_facts(args), "gilfree_threads": gilfree.get_num_threads(), "dask": da.__name__}
    import dask

    facts["dask"] = dask.__version__
    print_facts(facts)
    failures: list[str] = []
    report: dict[str, Any] = {"facts": facts, "compare": compare(args, failures)}
    if args.sizing:
        report["sizing"] = sizing(args)
    if args.json:
        write_json(args.json, report)
    if failures:
        print("\nWRONG RESULTS (exit status 2):", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
