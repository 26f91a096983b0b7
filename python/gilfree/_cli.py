"""The ``gilfree`` command line (also ``python -m gilfree``)."""

from __future__ import annotations

import argparse
import json
import sys

from gilfree._info import format_info, info
from gilfree._scaffold import add_new_parser
from gilfree.lab._bench import add_bench_parser
from gilfree.lab._probe import add_probe_parser


def _cmd_info(args: argparse.Namespace) -> int:
    facts = info()
    print(json.dumps(facts, indent=2) if args.json else format_info(facts))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gilfree",
        description="GIL-free Rust kernels for CPU-bound Python, and a lab that measures when they pay.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p_info = sub.add_parser("info", help="version, build, threads, CPU and interpreter facts")
    p_info.add_argument("--json", action="store_true", help="print the facts as JSON")
    p_info.set_defaults(func=_cmd_info)
    add_bench_parser(sub)
    add_probe_parser(sub)
    add_new_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gilfree`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
