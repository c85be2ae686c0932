"""``jobs`` of the shared reproduce machinery (verify._reproduce.run_seeds): the pending
(case, seed) computations on spawn-started worker processes of one thread each, the same
numbers as in-process, the results in seed order, a worker's error raised here, and Ctrl-C
keeping every finished seed without a traceback or a worker left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gatejac.verify import ReproduceError
from gatejac.verify._reproduce import SeedStore, check_jobs, prepare_directory, random_stream, run_seeds, usable_cores

SETTINGS = {"draws": 3, "results_format": 1}


def store(directory) -> SeedStore:
    return SeedStore(prepare_directory(directory), SETTINGS)


def draw(case: str, seed: int) -> dict:
    """A worker's computation: seeded draws, the process and its thread counts."""
    import threadpoolctl
    import torch

    threads = {pool["internal_api"]: pool["num_threads"] for pool in threadpoolctl.threadpool_info()}
    return {"draws": random_stream(seed, case).normal(size=SETTINGS["draws"]).tolist(), "pid": os.getpid(),
            "torch_threads": torch.get_num_threads(), "blas_threads": sorted(set(threads.values())),
            "numba_threads": os.environ.get("NUMBA_NUM_THREADS"), "faults": _faults_of_a_freed_array()}


def _faults_of_a_freed_array() -> int:
    """The page faults of malloc'ing, filling and freeing 64 MiB, after the same once: 16 384
    when malloc maps each such block afresh (glibc's default above 32 MiB), none when it keeps
    freed memory for reuse."""
    import ctypes
    import resource

    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]

    def once():
        block = libc.malloc(2 ** 26)
        ctypes.memset(block, 1, 2 ** 26)
        libc.free(block)

    once()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    once()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def draw_parts(case: str, seed: int, missing) -> dict:
    """A computation with parts: one seeded draw per missing part."""
    return {part: random_stream(seed, f"{case}-{part}").normal(size=2).tolist() for part in missing}


def fail_on_b(case: str, seed: int) -> dict:
    if case == "b":
        raise ReproduceError(f"no result for {case} seed {seed}")
    return {"case": case, "seed": seed}


def block_on_late(case: str, seed: int) -> dict:
    """``late`` never finishes (until the worker is stopped); the others at once."""
    if case == "late":
        time.sleep(600)
    return {"case": case, "seed": seed}


def test_jobs_run_in_worker_processes_of_one_thread_with_the_numbers_of_one_process(tmp_path):
    serial, _, computed = run_seeds(store(tmp_path / "one"), ["a", "b"], 3, draw, label="t",
                                    progress=False, jobs=1)
    parallel, reused, computed_parallel = run_seeds(store(tmp_path / "two"), ["a", "b"], 3, draw,
                                                    label="t", progress=False, jobs=2)
    assert (computed, reused, computed_parallel) == (6, 0, 6)
    assert {r["pid"] for seeds in serial.values() for r in seeds} == {os.getpid()}
    workers = {r["pid"] for seeds in parallel.values() for r in seeds}
    assert os.getpid() not in workers and len(workers) <= 2
    assert all(r["torch_threads"] == 1 and r["blas_threads"] in ([], [1]) for seeds in parallel.values() for r in seeds)
    # numba reads its thread count when first imported, which a worker does after its start
    assert all(r["numba_threads"] == "1" for seeds in parallel.values() for r in seeds)
    # a worker keeps freed memory (no page faults re-touching it); a fresh interpreter does not (the
    # check can fail).  Not this test process: what its malloc does after the suite's other tests varies
    # (a fresh CI run once saw fewer faults here).
    assert all(r["faults"] < 1000 for seeds in parallel.values() for r in seeds)
    fresh = subprocess.run([sys.executable, "-c", "from test_reproduce_jobs import _faults_of_a_freed_array as f; "
                            "print(f())"], cwd=Path(__file__).parent, capture_output=True, text=True, check=True)
    assert int(fresh.stdout.split()[-1]) > 10000
    for case in ("a", "b"):  # the results in seed order, each its seed's draws
        assert [r["draws"] for r in parallel[case]] == [r["draws"] for r in serial[case]]
        assert [r["draws"] for r in parallel[case]] == [random_stream(s, case).normal(size=3).tolist()
                                                        for s in range(3)]
        for seed in range(3):
            stored = json.loads(store(tmp_path / "two").path(case, seed).read_text())
            assert stored["result"] == parallel[case][seed]


def test_parts_on_workers_compute_only_the_missing_parts_and_reuse_the_rest(tmp_path):
    seeds = store(tmp_path)
    seeds.save("a-exact", 1, [0.5])  # one part of one seed already there
    results, reused, computed = run_seeds(seeds, ["a"], 2, draw_parts, label="t", progress=False,
                                          parts=("exact", "author"), jobs=2)
    assert (reused, computed) == (0, 2)
    assert results["a"][1]["exact"] == [0.5]
    assert results["a"][1]["author"] == random_stream(1, "a-author").normal(size=2).tolist()
    assert results["a"][0]["exact"] == random_stream(0, "a-exact").normal(size=2).tolist()


def test_a_workers_error_is_raised_here_and_the_finished_seeds_are_kept(tmp_path):
    with pytest.raises(ReproduceError, match="no result for b seed"):
        run_seeds(store(tmp_path), ["a", "b"], 1, fail_on_b, label="t", progress=False, jobs=2)
    assert not (tmp_path / "seeds" / "b-seed00.json").exists()


def test_jobs_are_checked_and_default_to_the_usable_cores():
    assert check_jobs(None) == usable_cores() == len(os.sched_getaffinity(0))
    assert check_jobs(3) == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ReproduceError, match=f"jobs={bad!r} must be a positive integer"):
            check_jobs(bad)
    with pytest.raises(ReproduceError, match="jobs=0"):
        run_seeds(SeedStore(Path("unused"), SETTINGS), ["a"], 1, draw, label="t", progress=False, jobs=0)


def test_progress_reports_each_result_as_it_arrives(tmp_path, capfd):
    run_seeds(store(tmp_path), ["a", "b"], 2, draw, label="jobs test", jobs=2)
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("jobs test")]
    assert sorted(line.split("  (")[0] for line in lines)[-1].startswith("jobs test  4/4")
    assert sorted(line.split("/4  ")[1].split("  (")[0] for line in lines) == [
        "a seed 0", "a seed 1", "b seed 0", "b seed 1"]


def test_ctrl_c_stops_the_workers_keeps_the_finished_seeds_and_prints_no_traceback(tmp_path):
    """A run whose ``late`` case blocks its workers: after the ``early`` seeds are written, SIGINT
    to the process group (as Ctrl-C does) ends the run within seconds, exit 130 from the
    caller, no traceback, no worker left, the early seeds kept and nothing else."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_reproduce_jobs import block_on_late, store
        from gatejac.verify._reproduce import run_seeds
        if __name__ == "__main__":
            try:
                run_seeds(store({str(tmp_path)!r}), ["early", "late", "never"], 2, block_on_late,
                          label="t", progress=False, jobs=2)
            except KeyboardInterrupt:
                sys.exit(130)
    """)
    run = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True,
                           start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        early = [tmp_path / "seeds" / f"early-seed0{seed}.json" for seed in range(2)]
        deadline = time.monotonic() + 120
        while not all(path.exists() for path in early) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(path.exists() for path in early) and run.poll() is None
        time.sleep(1)  # the workers are now in ``late``
        os.killpg(run.pid, signal.SIGINT)
        began = time.monotonic()
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 130 and time.monotonic() - began < 30
    assert "Traceback" not in err, err
    assert sorted(p.name for p in (tmp_path / "seeds").iterdir()) == [p.name for p in early]
    with pytest.raises(ProcessLookupError):  # no process of the run's group is left
        for _ in range(50):
            os.killpg(run.pid, 0)
            time.sleep(0.1)


def test_separate_parts_are_one_call_each_with_the_numbers_of_one_call(tmp_path):
    calls = []

    def counted(case, seed, missing):
        calls.append(list(missing))
        return draw_parts(case, seed, missing)

    together, _, _ = run_seeds(store(tmp_path / "one"), ["a"], 2, draw_parts, label="t", progress=False,
                               parts=("exact", "author"), jobs=1)
    apart, _, computed = run_seeds(store(tmp_path / "two"), ["a"], 2, counted, label="t", progress=False,
                                   parts=("exact", "author"), jobs=1, separate_parts=True)
    assert calls == [["exact"], ["author"]] * 2 and computed == 2 and apart == together
    parallel, _, computed = run_seeds(store(tmp_path / "three"), ["a"], 2, draw_parts, label="t", progress=False,
                                      parts=("exact", "author"), jobs=2, separate_parts=True)
    assert parallel == together and computed == 2


def draws(case: str, seed: int) -> dict:
    """A worker's computation: two numbers of the (case, seed) stream."""
    return {"draws": random_stream(seed, case).normal(size=2).tolist()}


def test_longest_first_submits_the_costliest_call_first_with_the_same_numbers(tmp_path, monkeypatch):
    """With ``cost`` and jobs > 1 the calls go to the pool by decreasing cost (the pool starts them
    first in, first out), and the stored results are those of jobs=1, byte for byte.  The order is
    read where gatejac decides it, at submission: the workers' start times cannot show it, since a
    spawned worker may start its first call after another worker has finished one."""
    from concurrent.futures import ProcessPoolExecutor

    from gatejac.verify import _reproduce

    submitted = []

    class RecordingPool(ProcessPoolExecutor):
        def submit(self, function, *args, **kwargs):
            submitted.append(args[2])  # _compute(compute, with_parts, case, seed, missing)
            return super().submit(function, *args, **kwargs)

    monkeypatch.setattr(_reproduce, "ProcessPoolExecutor", RecordingPool)
    cost = {"cheap": 1.0, "middling": 2.0, "dear": 3.0}.__getitem__
    cases = ["cheap", "middling", "dear"]
    ordered, _, _ = run_seeds(store(tmp_path / "lpt"), cases, 1, draws, label="t", progress=False, jobs=2,
                              cost=lambda case, part: cost(case))
    assert submitted == ["dear", "middling", "cheap"]
    serial, _, _ = run_seeds(store(tmp_path / "serial"), cases, 1, draws, label="t", progress=False, jobs=1,
                             cost=lambda case, part: cost(case))
    for case in cases:
        assert ordered[case][0]["draws"] == serial[case][0]["draws"]
    # the check can fail: without costs the calls go in their given order
    submitted.clear()
    run_seeds(store(tmp_path / "given"), cases, 1, draws, label="t", progress=False, jobs=2)
    assert submitted == cases


def test_longest_first_sums_a_calls_parts_and_keeps_ties_in_order():
    from gatejac.verify._reproduce import _longest_first

    calls = [(("a", 0), ["exact"]), (("b", 0), ["exact", "author"]), (("c", 0), ["author"]), (("d", 0), ["exact"])]
    weights = {"a": 1.0, "b": 1.0, "c": 5.0, "d": 1.0}
    part_factor = {"exact": 1.0, "author": 2.0}
    order = _longest_first(calls, lambda case, part: weights[case] * part_factor[part])
    assert order == [2, 1, 0, 3]  # c: 10; b: 1 + 2 = 3; a and d: 1 each, in their given order
    assert _longest_first(calls, None) == [0, 1, 2, 3]

