"""``gilfree info``: what this gilfree is, and how it will run here."""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from typing import Any

from gilfree import _native


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def info() -> dict[str, Any]:
    """Facts about this installation: version, build, threads and where that number came from,
    CPU, and whether the interpreter is free-threaded and the GIL enabled.

    Example:
        >>> import gilfree
        >>> facts = gilfree.info()
        >>> facts["threads"] == gilfree.get_num_threads()
        True
        >>> sorted(facts)[:3]
        ['cores', 'cpu', 'cpu_features']
    """
    native = _native._runtime_info()
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    gil_enabled = True if is_gil_enabled is None else bool(is_gil_enabled())
    return {
        "version": native["version"],
        "profile": native["profile"],
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "free_threaded": free_threaded,
        "gil_enabled": gil_enabled,
        "threads": native["threads"],
        "threads_source": native["threads_source"],
        "pool_started": native["pool_started"],
        "cores": native["cores"],
        "cpu": _cpu_model(),
        "cpu_features": native["cpu_features"],
        "target": native["target"],
        "detach_min_bytes": native["detach_min_bytes"],
        "reduce_chunk_len": native["reduce_chunk_len"],
        "fan_out_min_us": native["fan_out_min_us"],
        "linger_us": native["linger_us"],
        "pid": os.getpid(),
    }


def format_info(facts: dict[str, Any]) -> str:
    """The human-readable form of :func:`info`, as ``gilfree info`` prints it."""
    rows = [
        ("gilfree", f"{facts['version']} ({facts['profile']} build, {facts['target']})"),
        ("python", facts["python"]),
        ("free-threaded", "yes" if facts["free_threaded"] else "no"),
        ("GIL", "enabled" if facts["gil_enabled"] else "disabled"),
        ("threads", f"{facts['threads']} (from {facts['threads_source']})"),
        ("cores", str(facts["cores"])),
        ("cpu", facts["cpu"]),
        ("cpu features", " ".join(facts["cpu_features"]) or "(baseline only)"),
        ("inline below", f"{facts['detach_min_bytes']} bytes (no GIL release, no pool)"),
        ("reduce chunk", f"{facts['reduce_chunk_len']} elements"),
        (
            "fan-out",
            f"workers asked for once {facts['fan_out_min_us']:g} µs of work is left; they spin "
            f"{facts['linger_us']:g} µs after a job, then sleep",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def num_threads_setting() -> int | None:
    """The pool size ``set_num_threads(n)`` decided, or None when the environment or the core
    count decides: what to hand back to ``set_num_threads`` to restore the *setting*, not pin the
    number (``set_num_threads(None)`` gives the size back to the environment).

    Example:
        >>> import gilfree
        >>> from gilfree._info import num_threads_setting
        >>> before = num_threads_setting()
        >>> gilfree.set_num_threads(1)
        >>> num_threads_setting()
        1
        >>> gilfree.set_num_threads(before)
        >>> num_threads_setting() == before
        True
    """
    if _native._runtime_info()["threads_source"] != "set_num_threads()":
        return None
    return _native.get_num_threads()
