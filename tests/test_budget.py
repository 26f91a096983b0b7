"""The thread budget other software sets: ``OMP_NUM_THREADS`` (after ``set_num_threads`` and
``GILFREE_NUM_THREADS``), as a real joblib loky worker and a real Dask worker get it, and
threadpoolctl listing and limiting gilfree's pool.

Environment variables are read in fresh interpreters (subprocesses of ``sys.executable``) whose
environment has neither variable unless a test sets it.
"""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _pool import CHILD_IMPORT

import gilfree
from gilfree import _native

LINUX = sys.platform.startswith("linux")
CORES = gilfree.info()["cores"]
BUDGET_VARS = ("GILFREE_NUM_THREADS", "OMP_NUM_THREADS")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in BUDGET_VARS}
    env.update(extra)
    return env


def run_child(code: str, **env: str) -> Any:
    """Runs ``code`` in a fresh interpreter and returns the JSON of its last stdout line."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD_IMPORT + "import json, os, gilfree\n" + textwrap.dedent(code)],
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def run_script(path: Path, text: str) -> Any:
    """Runs a script file (a ``__main__`` that spawned workers can tell from their own import) in a
    fresh interpreter; returns the JSON of its last stdout line."""
    path.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(path)], env=child_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


SIZE_AND_SOURCE = 'print(json.dumps([gilfree.get_num_threads(), gilfree.info()["threads_source"]]))'


# --- the order of the sources ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "threads", "source"),
    [
        ({"OMP_NUM_THREADS": "1"}, 1, "OMP_NUM_THREADS"),
        ({"OMP_NUM_THREADS": " 3 "}, 3, "OMP_NUM_THREADS"),
        # A nesting list: the outer level counts, as in OpenMP.
        ({"OMP_NUM_THREADS": "4,2"}, 4, "OMP_NUM_THREADS"),
        # Honoured above the cap, as the cap.
        ({"OMP_NUM_THREADS": "5000"}, 1024, "OMP_NUM_THREADS"),
        # GILFREE_NUM_THREADS comes first.
        ({"GILFREE_NUM_THREADS": "2", "OMP_NUM_THREADS": "3"}, 2, "GILFREE_NUM_THREADS"),
    ],
)
def test_env_sources(env: dict[str, str], threads: int, source: str) -> None:
    assert run_child(SIZE_AND_SOURCE, **env) == [threads, source]


@pytest.mark.parametrize("raw", ["abc", "0", "", "4,x", "-1", "2.5"])
def test_invalid_omp_is_ignored_and_reported(raw: str) -> None:
    n, source = run_child(SIZE_AND_SOURCE, OMP_NUM_THREADS=raw)
    assert n == CORES
    assert source.startswith("number of cores ("), source
    assert f'OMP_NUM_THREADS="{raw}" ignored' in source


def test_invalid_gilfree_variable_falls_through_to_omp() -> None:
    n, source = run_child(SIZE_AND_SOURCE, GILFREE_NUM_THREADS="many", OMP_NUM_THREADS="3")
    assert n == 3
    assert source == 'OMP_NUM_THREADS (GILFREE_NUM_THREADS="many" ignored: not an int between 1 and 1024)'


def test_set_num_threads_beats_both_and_none_goes_back() -> None:
    facts = run_child(
        """
        out = [gilfree.get_num_threads()]
        gilfree.set_num_threads(2)
        out.append([gilfree.get_num_threads(), gilfree.info()["threads_source"]])
        gilfree.set_num_threads(None)
        out.append([gilfree.get_num_threads(), gilfree.info()["threads_source"]])
        print(json.dumps(out))
        """,
        OMP_NUM_THREADS="3",
    )
    assert facts == [3, [2, "set_num_threads()"], [3, "OMP_NUM_THREADS"]]


@pytest.mark.skipif(not LINUX, reason="counts threads by name in /proc/self/task")
def test_omp_sizes_the_pool_it_builds() -> None:
    # The pool a parallel call starts has OMP_NUM_THREADS workers; set_num_threads(None) after
    # set_num_threads(2) builds one of that size again.
    facts = run_child(
        """
        import numpy as np
        a = np.ones(1 << 22)
        gilfree.sum(a)
        first = settled_workers(3)
        gilfree.set_num_threads(2)
        gilfree.sum(a)
        two = settled_workers(2)
        gilfree.set_num_threads(None)
        gilfree.sum(a)
        print(json.dumps([first, two, settled_workers(3)]))
        """,
        OMP_NUM_THREADS="3",
    )
    assert facts == [3, 2, 3]


def test_cli_info_names_omp() -> None:
    for args in (["info"], ["info", "--json"]):
        proc = subprocess.run(
            [sys.executable, "-m", "gilfree", *args],
            env=child_env(OMP_NUM_THREADS="1"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        if "--json" in args:
            facts = json.loads(proc.stdout)
            assert (facts["threads"], facts["threads_source"]) == (1, "OMP_NUM_THREADS")
        else:
            line = next(x for x in proc.stdout.splitlines() if x.startswith("threads"))
            assert line.split(None, 1)[1] == "1 (from OMP_NUM_THREADS)"


def test_set_num_threads_none_in_process() -> None:
    before = gilfree.get_num_threads()
    was_explicit = gilfree.info()["threads_source"] == "set_num_threads()"
    try:
        gilfree.set_num_threads(3)
        gilfree.set_num_threads(None)
        assert gilfree.info()["threads_source"] != "set_num_threads()"
        assert gilfree.get_num_threads() == gilfree.info()["threads"]
    finally:
        gilfree.set_num_threads(before if was_explicit else None)


# --- real launchers: joblib's loky backend and a Dask worker behind its nanny -----------------

LOKY_SCRIPT = """
import json, os
import joblib
import gilfree

def task():
    import gilfree
    return os.environ.get("OMP_NUM_THREADS"), gilfree.get_num_threads(), gilfree.info()["threads_source"]

if __name__ == "__main__":
    with joblib.parallel_config(backend="loky", n_jobs=2):
        seen = joblib.Parallel()(joblib.delayed(task)() for _ in range(4))
    print(json.dumps({"seen": seen, "cpu_count": joblib.cpu_count()}))
"""


def test_loky_worker_gets_its_share(tmp_path: Path) -> None:
    pytest.importorskip("joblib")
    out = run_script(tmp_path / "loky_budget.py", LOKY_SCRIPT)
    # loky gives each of n_jobs workers cpu_count // n_jobs threads (at least 1) through the
    # *_NUM_THREADS variables: the pool in each worker is that size.
    share = max(out["cpu_count"] // 2, 1)
    for omp, threads, source in out["seen"]:
        assert omp == str(share)
        assert threads == share
        assert source == "OMP_NUM_THREADS"


DASK_SCRIPT = """
import json, os
from distributed import Client, LocalCluster

def task():
    import gilfree
    return os.environ.get("OMP_NUM_THREADS"), gilfree.get_num_threads(), gilfree.info()["threads_source"]

if __name__ == "__main__":
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            seen = client.submit(task, pure=False).result(timeout=60)
    print(json.dumps(seen))
"""


def test_dask_worker_gets_one_thread(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    # The nanny sets OMP_NUM_THREADS=1 (distributed.nanny.pre-spawn-environ) in the worker process
    # before it starts: its pool is one thread, not the machine.
    assert run_script(tmp_path / "dask_budget.py", DASK_SCRIPT) == ["1", 1, "OMP_NUM_THREADS"]


# --- threadpoolctl -----------------------------------------------------------------------------


@pytest.fixture
def setting() -> Iterator[None]:
    """Starts from the environment's size (no set_num_threads) and puts the setting back after."""
    before = gilfree.get_num_threads()
    was_explicit = gilfree.info()["threads_source"] == "set_num_threads()"
    gilfree.set_num_threads(None)
    try:
        yield
    finally:
        gilfree.set_num_threads(before if was_explicit else None)


def _state() -> tuple[int, str]:
    return gilfree.get_num_threads(), gilfree.info()["threads_source"]


def _gilfree_pools() -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info

    return [p for p in threadpool_info() if p["internal_api"] == "gilfree"]


def test_threadpool_info_lists_the_pool(setting: None) -> None:
    pytest.importorskip("threadpoolctl")
    [pool] = _gilfree_pools()
    assert pool["user_api"] == "gilfree"
    assert pool["num_threads"] == gilfree.get_num_threads()
    assert pool["version"] == gilfree.__version__
    assert pool["prefix"] == "_native."
    assert os.path.samefile(pool["filepath"], _native.__file__)
    gilfree.set_num_threads(3)
    [pool] = _gilfree_pools()
    assert pool["num_threads"] == 3
    # Registering again changes nothing.
    from gilfree._threadpoolctl import register

    assert register() is True
    assert len(_gilfree_pools()) == 1


@pytest.mark.parametrize("user_api", [None, "gilfree"])
def test_threadpool_limits_limits_and_restores_the_setting(setting: None, user_api: str | None) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    env_state = _state()
    assert env_state[1] != "set_num_threads()"
    with threadpoolctl.threadpool_limits(1, user_api=user_api):
        assert _state() == (1, "set_num_threads()")
    # Sized by the environment again, not pinned to the number it had.
    assert _state() == env_state
    # An explicit setting is restored as one.
    gilfree.set_num_threads(3)
    with threadpoolctl.threadpool_limits({"gilfree": 2}):
        assert gilfree.get_num_threads() == 2
    assert _state() == (3, "set_num_threads()")


def test_threadpool_limits_nested_and_other_apis(setting: None) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    env_state = _state()
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert _state() == env_state  # not BLAS: left alone
    with threadpoolctl.threadpool_limits(1):
        with threadpoolctl.threadpool_limits(2, user_api="gilfree"):
            assert gilfree.get_num_threads() == 2
        assert gilfree.get_num_threads() == 1
    assert _state() == env_state


def test_threadpool_controller_select(setting: None) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    env_state = _state()
    controller = threadpoolctl.ThreadpoolController()
    selected = controller.select(user_api="gilfree")
    assert [lib.internal_api for lib in selected.lib_controllers] == ["gilfree"]
    with selected.limit(limits=2):
        assert gilfree.get_num_threads() == 2
        assert selected.info()[0]["num_threads"] == 2
    assert _state() == env_state
    # The same selection via the internal API name.
    assert len(controller.select(internal_api="gilfree").lib_controllers) == 1


def test_threadpoolctl_module_examples(setting: None) -> None:
    pytest.importorskip("threadpoolctl")
    from gilfree import _threadpoolctl

    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(_threadpoolctl, _threadpoolctl.__name__, globs={}):
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted > 0
    assert failed == 0


def test_the_environment_is_read_at_import_not_later() -> None:
    """OMP_NUM_THREADS set after `import gilfree` (Dask's nanny does, in the client's process,
    before it spawns a worker) does not resize this process's pool: the variables are read once,
    at import, as an OpenMP runtime reads them once at start-up."""
    script = (
        "import json, os, gilfree\n"
        "before = gilfree.get_num_threads()\n"
        "os.environ['OMP_NUM_THREADS'] = '1'\n"
        "os.environ['GILFREE_NUM_THREADS'] = '1'\n"
        "gilfree.set_num_threads(None)\n"
        "print(json.dumps([before, gilfree.get_num_threads(), gilfree.info()['threads_source']]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "GILFREE_NUM_THREADS")}
    env["GILFREE_NUM_THREADS"] = "3"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [3, 3, "GILFREE_NUM_THREADS"]
