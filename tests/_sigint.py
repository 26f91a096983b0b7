"""The Ctrl-C harness every test file uses: a real SIGINT sent to a child Python process.

SIGINT is only ever sent to child processes, never to the pytest process. A child prints ``READY``
when its long call is about to start; the harness lets it compute for ~0.3 s, sends SIGINT, then
writes the send time on the child's stdin (``time.monotonic`` is system-wide on Linux), so the
child can print the latency itself. Children report ``KEY value`` lines; :meth:`Child.value`
reads them. The only assertions on latency are generous hang bounds, never performance targets.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

posix_only = pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="POSIX signals")

HANG_BOUND_S = 20.0  # a child that has not exited by then is hung
LATENCY_SANITY_S = 5.0  # hang detector for "signal -> exception"; the design target is < 0.5 s
IDLE_CPU_MAX_S = 0.25  # process CPU time allowed over 0.5 s of sleep after the interrupt

# Put at the top of every child. A shell that starts pytest in the background may leave SIGINT
# ignored (SIG_IGN is inherited); Python then keeps it ignored and gilfree rightly leaves it
# alone. Restore Python's default so the child behaves like an interactive program.
CHILD_PRELUDE = """
import json, os, signal, sys, threading, time
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np
import gilfree
from gilfree._native import _testing
"""

# After the interrupt: the child's own CPU time over 0.5 s of sleep (every thread of the process
# counts, so still-spinning pool workers would show), then a normal call on the pool.
CHILD_AFTER = """
cpu0 = time.process_time()
time.sleep(0.5)
print(f"IDLE_CPU {time.process_time() - cpu0:.4f}", flush=True)
a = np.arange(10 * 65536, dtype=np.float64)
print(f"NEXT {gilfree.sum(a) == a.sum()} {gilfree.sum(a, threads=1) == a.sum()}", flush=True)
print(f"NEXT_SPIN {_testing.spin(4, 5)}", flush=True)
"""

# The usual child: READY, then one long call that must end in KeyboardInterrupt.
CALL_TEMPLATE = """
{setup}
print("READY", flush=True)
try:
    {call}
except KeyboardInterrupt:
    caught = time.monotonic()
    sent = float(sys.stdin.readline())
    print(f"INTERRUPTED {{caught - sent:.6f}}", flush=True)
else:
    print("NOT INTERRUPTED", flush=True)
    sys.exit(1)
"""


# Two long calls in ThreadPoolExecutor threads that must both stop on Ctrl-C (the main thread waits
# in the `with` block), then a call from a worker thread again. `{submit}` is the arguments of
# pool.submit(...), `{after}` an expression whose value the AFTER line shows.
THREAD_POOL_TEMPLATE = """
{setup}
from concurrent.futures import ThreadPoolExecutor
futs = []
try:
    with ThreadPoolExecutor(2) as pool:
        futs = [pool.submit({submit}) for _ in range(2)]
        print("READY", flush=True)
        [f.result() for f in futs]
except KeyboardInterrupt:
    # Reached only after the `with` block joined its threads: their native calls stopped.
    caught = time.monotonic()
    sent = float(sys.stdin.readline())
    print(f"INTERRUPTED {{caught - sent:.6f}}", flush=True)
else:
    print("NOT INTERRUPTED", flush=True)
    sys.exit(1)
print("FUTURES", json.dumps([type(f.exception(timeout=0)).__name__ for f in futs]), flush=True)
# A call started after the interrupt, from a worker thread again, is unaffected.
with ThreadPoolExecutor(2) as pool:
    print("AFTER", {after}, flush=True)
"""


class Child:
    """A Python child process whose stdout lines arrive on a queue while it runs."""

    def __init__(self, script: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("GILFREE_NUM_THREADS", None)
        env.pop("OMP_NUM_THREADS", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line.rstrip("\n"))
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def describe(self) -> str:
        return "stdout:\n" + "\n".join(self.stdout) + "\nstderr:\n" + "".join(self.stderr)

    def wait_for(self, expected: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                pytest.fail(f"the child never printed {expected!r}\n{self.describe()}")
            if line is None:
                self.finish()
                pytest.fail(f"the child exited before printing {expected!r}\n{self.describe()}")
            if line == expected:
                return

    def send_sigint(self) -> None:
        """Sends SIGINT, then tells the child when (CLOCK_MONOTONIC is system-wide on Linux)."""
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.stdin is not None
        # A child that died of the signal cannot read it: finish() then reports its exit.
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write(f"{sent!r}\n")
            self.proc.stdin.flush()

    def finish(self, timeout: float = HANG_BOUND_S) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the child did not exit within {timeout} s (hung)\n{self.describe()}")
        self._close()
        return rc

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._close()

    def _close(self) -> None:
        for t in self._readers:
            t.join(timeout=10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                # Closing the stdin of a dead child may flush into a broken pipe.
                with contextlib.suppress(OSError):
                    f.close()

    @contextlib.contextmanager
    def reaped(self) -> Iterator[None]:
        """Kills the child if the block fails before it exited (no stray process, no
        ResourceWarning from a Popen collected while its child runs)."""
        try:
            yield
        finally:
            if self.proc.poll() is None:
                self.kill()

    def value(self, key: str) -> str:
        for line in self.stdout:
            if line.startswith(key + " "):
                return line[len(key) + 1 :]
        pytest.fail(f"no {key!r} line from the child\n{self.describe()}")


def interrupt_child(script: str, after: str = CHILD_AFTER) -> Child:
    """Runs ``script`` (then ``after``) until it prints READY, lets it compute for ~0.3 s, sends
    SIGINT, and waits (at most HANG_BOUND_S) for it to exit 0."""
    child = Child(textwrap.dedent(script) + after)
    with child.reaped():
        child.wait_for("READY")
        # A little jitter: the main thread polls every 20 ms, and a fixed delay would always land
        # at the same phase of that cycle, making the printed latencies look better (or worse).
        time.sleep(0.3 + random.uniform(0, 0.04))
        child.send_sigint()
        rc = child.finish()
    assert rc == 0, child.describe()
    return child


def interrupt_call(call: str, *, setup: str = "", after: str = "") -> Child:
    """:func:`interrupt_child` on the usual child: ``setup``, READY, ``call`` (which must end in
    KeyboardInterrupt), ``after``, then :data:`CHILD_AFTER`. ``setup``/``after`` are top-level
    code; ``call`` is one line."""
    script = CALL_TEMPLATE.format(setup=textwrap.dedent(setup), call=call)
    return interrupt_child(script + textwrap.dedent(after) + CHILD_AFTER, after="")


def interrupt_thread_pool(submit: str, after: str, *, setup: str = "", then: str = "") -> Child:
    """:func:`interrupt_child` on :data:`THREAD_POOL_TEMPLATE`; the child's FUTURES line must show
    two KeyboardInterrupts (asserted here). ``then`` runs after it, before :data:`CHILD_AFTER`."""
    script = THREAD_POOL_TEMPLATE.format(setup=textwrap.dedent(setup), submit=submit, after=after)
    child = interrupt_child(script + textwrap.dedent(then) + CHILD_AFTER, after="")
    assert child.value("FUTURES") == '["KeyboardInterrupt", "KeyboardInterrupt"]', child.describe()
    return child


def check_after(child: Child, what: str) -> float:
    """Asserts the child stopped and recovered: a sane latency, idle workers after the interrupt,
    and normal calls afterwards. Returns the latency in seconds (also printed; ``pytest -s``)."""
    latency = float(child.value("INTERRUPTED"))
    idle_cpu = float(child.value("IDLE_CPU"))
    print(f"\n[{what}] SIGINT -> exception {latency * 1000:.1f} ms, then {idle_cpu:.3f} s CPU in 0.5 s")
    assert 0 <= latency < LATENCY_SANITY_S, child.describe()
    assert idle_cpu < IDLE_CPU_MAX_S, f"the workers kept computing after Ctrl-C\n{child.describe()}"
    assert child.value("NEXT") == "True True", child.describe()
    assert child.value("NEXT_SPIN") == "4", child.describe()
    return latency
