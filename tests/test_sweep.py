"""Sweeps on Dask (verify/_sweep*.py, verify/_cli_sweep.py) on a REAL local cluster of two
spawned worker processes — no mock: a small sweep completes with every point and the values a
single process computes; the workers are spawned and hold their thread limits; a worker killed
mid-sweep (SIGKILL from inside a task) and the sweep still completes, no finished point
computed twice; a sweep interrupted by Ctrl-C (SIGINT to a ``gatejac sweep`` process) and
resumed computes no stored point again and loses none.  Computations are counted by a marker
file per computation, written by the quantity itself.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import xarray as xr
import zarr

from gatejac.verify._cli_sweep import add_sweep, axis, seeds
from gatejac.verify import _sweep
from gatejac.verify._sweep import TASK_SECONDS, WRITE_SECONDS, Job, batch_size, run_batch, sweep
from gatejac.verify._sweep_cluster import QUIET, connect
from gatejac.verify._sweep_errors import SweepError
from gatejac.verify._sweep_points import Point
from gatejac.verify._sweep_quantities import QUANTITIES
from gatejac.verify._tolerances import tolerance
from gatejac.verify._sweep_store import CHUNK_POINTS, MIN_CHUNKS, chunk_shape, coordinates, prepare

if __name__ in sys.modules:  # under pytest (gatejac sweep registers the files it loads itself)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers need not import this file

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ quantities of the tests
def _mark(point) -> None:
    """One marker file per computation of a point: ``x=<x> seed=<seed> <pid> <uuid>``."""
    directory = Path(point.settings["markers"])
    (directory / f"x={point.settings['x']} seed={point.seed} {os.getpid()} {uuid.uuid4().hex}").touch()


def counted(point) -> float:
    """10·x + seed, after ``pause`` seconds, with a marker per computation."""
    time.sleep(point.settings.get("pause", 0.0))
    _mark(point)
    return 10.0 * point.settings["x"] + point.seed


def killer(point) -> float:
    """As :func:`counted`, but the first computation of (x = 2, seed = 2) kills its own worker."""
    flag = Path(point.settings["markers"]) / "killed"
    if point.settings["x"] == 2 and point.seed == 2 and not flag.exists():
        flag.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return counted(point)


def worker_report(point) -> float:
    """What the worker process is: ``ask`` = "threads" (the largest thread pool: BLAS/OpenMP by
    threadpoolctl, torch's intra-op threads, the NUMBA_NUM_THREADS numba reads when it loads), "spawned" (1 if started by
    multiprocessing's spawn, not forked), "pid"."""
    ask = point.settings["ask"]
    if ask == "pid":
        return float(os.getpid())
    if ask == "spawned":
        return float("spawn_main" in Path("/proc/self/cmdline").read_bytes().decode(errors="replace"))
    import torch
    from threadpoolctl import threadpool_info

    pools = [pool["num_threads"] for pool in threadpool_info()]
    return float(max([*pools, torch.get_num_threads(), int(os.environ["NUMBA_NUM_THREADS"])]))


def _markers(directory: Path, pid: int | None = None) -> dict:
    """How many times each point was computed (by process ``pid`` only, when given)."""
    counts: dict = {}
    for marker in directory.glob("x=*"):
        key, process, _ = marker.name.rsplit(" ", 2)
        if pid is None or int(process) == pid:
            counts[key] = counts.get(key, 0) + 1
    return counts


def _done_so_far(out: Path) -> set:
    """``_done`` while the sweep may still be creating its store (its arrays appear after the
    directory does): nothing is stored until they exist."""
    try:
        return _done(out)
    except (KeyError, FileNotFoundError):
        return set()


def _done(out: Path) -> set:
    """The points stored in ``out`` now, named as the markers name them."""
    group = zarr.open_group(str(out), mode="r")
    xs, seeds_ = group["x"][...], group["seed"][...]
    return {f"x={xs[i]} seed={seeds_[j]}" for i, j in zip(*np.nonzero(group["done"][...]))}


@pytest.fixture(scope="module")
def scheduler():
    """One local cluster of two spawned worker processes (one thread each), shared by the
    tests that pass its address; it is what ``sweep`` starts by default."""
    client, cluster, threads = connect(None, 2, 1)
    assert threads == 2
    yield cluster.scheduler_address
    client.close()
    cluster.close()


# ------------------------------------------------------------------------------------ tests
def test_a_small_sweep_completes_with_every_point(tmp_path, monkeypatch):
    """Its own LocalCluster (the default): every point stored (in chunks of two seeds, the last
    one short), equal to the quantity evaluated in this process; the store is the documented
    xarray layout; a second run finds everything done and starts no cluster."""
    grid = {"gain_W_h": [0.5, 1.5], "b_r": [-1.0, 1.0]}
    settings = {"cell": "gru_chung", "n": 12}
    out = tmp_path / "radius.zarr"
    dataset = sweep("spectral_radius", grid, 3, settings=settings, out=out, seeds_per_chunk=2, progress=False)
    assert dict(dataset.sizes) == {"gain_W_h": 2, "b_r": 2, "seed": 3}
    assert dataset["done"].encoding["chunks"] == (1, 1, 2)
    assert bool(dataset["done"].all())
    assert dataset.attrs["quantity"] == "spectral_radius" and dataset.attrs["units"] == "modulus"
    for g, b, s in np.ndindex(2, 2, 3):
        point = Point({**settings, "gain_W_h": grid["gain_W_h"][g], "b_r": grid["b_r"][b]}, s)
        assert float(dataset["spectral_radius"][g, b, s]) == QUANTITIES["spectral_radius"](point)
    monkeypatch.setattr("gatejac.verify._sweep.connect", lambda *a: pytest.fail("a cluster for a finished sweep"))
    again = sweep("spectral_radius", grid, 3, settings=settings, out=out, progress=False)  # its own chunks kept
    assert again["spectral_radius"].equals(dataset["spectral_radius"])
    assert xr.open_zarr(out, consolidated=False)["spectral_radius"].notnull().all()


def test_workers_are_spawned_processes_with_limited_thread_pools(scheduler, tmp_path):
    """Two distinct worker processes, not forks of this one, each thread pool limited to
    threads_per_worker = 1 (this machine has more cores, so the default would be more)."""
    dataset = sweep(worker_report, {"ask": ["pid", "spawned", "threads"]}, seeds=4, out=tmp_path / "report.zarr",
                    scheduler=scheduler, progress=False)
    report = dataset["worker_report"].load()
    assert os.getpid() not in report.sel(ask="pid").values
    assert np.all(report.sel(ask="spawned").values == 1)
    assert np.all(report.sel(ask="threads").values == 1)
    assert os.cpu_count() > 1


def test_a_worker_killed_mid_sweep_and_every_point_still_completes(scheduler, tmp_path):
    """Chunks of three seeds; the worker dies at the last seed of x = 2, after computing the
    first two: those two (and only those) are computed again, by the other worker, and every
    point is stored with its value."""
    markers = tmp_path / "markers"
    markers.mkdir()
    dataset = sweep(killer, {"x": list(range(6))}, seeds=3, settings={"markers": str(markers)},
                    out=tmp_path / "killed.zarr", scheduler=scheduler, seeds_per_chunk=3, progress=False)
    assert dataset["done"].encoding["chunks"] == (1, 3)
    killed = int((markers / "killed").read_text())  # a worker process did die, by SIGKILL, during the sweep
    values = dataset["killer"].values
    assert np.array_equal(values, 10.0 * np.arange(6)[:, None] + np.arange(3))
    lost = {"x=2 seed=0", "x=2 seed=1"}  # computed by the killed worker, not stored before it died
    assert _markers(markers) == {f"x={x} seed={s}": 2 if f"x={x} seed={s}" in lost else 1
                                 for x in range(6) for s in range(3)}
    assert set(_markers(markers, killed)) >= lost


DRIVER = """
import argparse, sys
from gatejac.verify._cli_sweep import add_sweep
parser = argparse.ArgumentParser(prog="gatejac")
add_sweep(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
try:
    sys.exit(args.run(args))
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_an_interrupted_sweep_resumes_computing_no_point_twice(scheduler, tmp_path):
    """``gatejac sweep tests/test_sweep.py:counted`` stopped by SIGINT after some points are
    stored, then the same sweep again: the points stored before the stop are not computed
    again, and at the end every point is stored once with its value."""
    markers, out = tmp_path / "markers", tmp_path / "stopped.zarr"
    markers.mkdir()
    arguments = ["sweep", f"{ROOT / 'tests' / 'test_sweep.py'}:counted", "--grid", "x=0:11:12", "--seeds", "2",
                 "--set", f"markers={markers}", "--set", "pause=0.1", "--out", str(out), "--quiet"]
    process = subprocess.Popen([sys.executable, "-c", DRIVER, *arguments], cwd=tmp_path, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(_done_so_far(out)) < 4 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, error = process.communicate(timeout=60)
    assert process.returncode == 130, error.decode()
    before, computed = _done(out), _markers(markers)
    assert 4 <= len(before) < 24  # stopped part-way
    assert all(computed[key] == 1 for key in before)
    grid = {"x": [float(x) for x in range(12)]}
    dataset = sweep(counted, grid, seeds=2, settings={"markers": str(markers), "pause": 0.1}, out=out,
                    scheduler=scheduler, progress=False)
    after = _markers(markers)
    assert all(after[key] == 1 for key in before)  # nothing stored before was computed again
    assert set(after) == {f"x={float(x)} seed={s}" for x in range(12) for s in range(2)}
    assert np.array_equal(dataset["counted"].values, 10.0 * np.arange(12)[:, None] + np.arange(2))


# -------------------------------------------------------------------- errors (no cluster)
@pytest.mark.parametrize("arguments, message", [
    (("spectral_radius", {"b_q": [0.0]}, 1, {"cell": "gru_chung"}), r"unknown setting 'b_q'.*b_r"),
    (("spectral_radius", {"b_r": [0.0]}, 1, {}), r"names no cell; set one"),
    (("spectral_radiu", {"b_r": [0.0]}, 1, {"cell": "gru_chung"}), r"spectral_radius"),
    (("spectral_radius", {"b_r": [0.0]}, 0, {"cell": "gru_chung"}), r"seeds=0 must be a count ≥ 1"),
    (("spectral_radius", {"b_r": [0.0]}, [1, 1], {"cell": "gru_chung"}), r"list of distinct seeds"),
    (("spectral_radius", {"b_r": [0.0, 0.0]}, 1, {"cell": "gru_chung"}), r"repeats a value"),
    (("spectral_radius", {"b_r": [0.0]}, 1, {"cell": "gru_chung", "b_r": 1.0}), r"b_r both fixed"),
    (("spectral_radius", {}, 1, {"cell": "gru_chung"}), r"grid is empty"),
    (("spectral_radius", {"seed": [1]}, 1, {"cell": "gru_chung"}), r"'seed' is the sweep's own"),
])
def test_bad_sweeps_are_refused_before_any_cluster_starts(tmp_path, monkeypatch, arguments, message):
    monkeypatch.setattr("gatejac.verify._sweep.connect", lambda *a: pytest.fail("a cluster for a bad sweep"))
    quantity, grid, count, settings = arguments
    with pytest.raises(Exception, match=message) as caught:
        sweep(quantity, grid, count, settings=settings, out=tmp_path / "bad.zarr", progress=False)
    assert caught.type.__module__.startswith("gatejac")


def test_a_store_of_another_sweep_is_not_resumed(tmp_path, monkeypatch):
    out = tmp_path / "first.zarr"
    monkeypatch.setattr("gatejac.verify._sweep.connect", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):  # the store is created, then the "cluster" is interrupted
        sweep("spectral_radius", {"b_r": [0.0, 1.0]}, 2, settings={"cell": "gru_chung"}, out=out, progress=False)
    with pytest.raises(SweepError, match=r"holds a different sweep \(b_r values: \[0.0, 1.0\] there, \[0.0, 2.0\]"):
        sweep("spectral_radius", {"b_r": [0.0, 2.0]}, 2, settings={"cell": "gru_chung"}, out=out, progress=False)
    with pytest.raises(SweepError, match=r"settings: .*\"n\": 8"):
        sweep("spectral_radius", {"b_r": [0.0, 1.0]}, 2, settings={"cell": "gru_chung", "n": 8}, out=out)


def test_point_settings():
    point = Point({"cell": "wcrnn", "residual_matrix": "dense", "n": 3, "R": 0.9, "gamma": 0.1, "gain_W": 2.0}, 4)
    assert np.array_equal(point.params["R"], 0.9 * np.eye(3)) and float(point.params["gamma"]) == 0.1
    plain = Point({"cell": "wcrnn", "residual_matrix": "dense", "n": 3, "R": 0.9, "gamma": 0.1}, 4)
    assert np.array_equal(point.params["W"], 2 * plain.params["W"])
    gated = Point({"cell": "gru_chung", "n": 5, "b_z": -2.0}, 0)
    assert np.array_equal(gated.params["b_z"], np.full(5, -2.0))
    assert gated.trajectory.steps == 500 and gated.trajectory.state_sizes == {"h": 5}


# ------------------------------------------------------------------ quantities (no cluster)
@pytest.mark.parametrize("lam", [0.9, 1.1])
def test_largest_exponent_of_an_uncoupled_residual_is_log_lambda(lam):
    """WCRNN with R = λI and γ = 0: J_t = λI at every step, so LE_max = ln λ exactly (natural
    log per step, Dubinin & Effenberger 2024); below λ = 1, γ = 0.05 moves it off (the check
    can fail; above, the growing state saturates tanh and the coupling fades)."""
    settings = {"cell": "wcrnn", "residual_matrix": "homogeneous", "lam": lam, "n": 8, "steps": 200, "burn_in": 20}
    value = QUANTITIES["largest_exponent"](Point({**settings, "gamma": 0.0}, 0))
    assert abs(value - np.log(lam)) <= tolerance("ad", "float64", abs(np.log(lam))).atol
    assert QUANTITIES["largest_exponent"].units == "natural log per step"
    coupled = QUANTITIES["largest_exponent"](Point({**settings, "lam": 0.9, "gamma": 0.05, "input_scale": 1.0}, 0))
    assert abs(coupled - np.log(0.9)) > 1e-4


@pytest.mark.parametrize("weight, count", [(1.5, 1), (3.0, 3)])
def test_fixed_point_count_of_a_one_unit_gru(weight, count):
    """Chung GRU, n = 1, W_r = 0, b_r = 0 (r̄ = 1/2), W_h = w, zero input and biases: the fixed
    points solve h = tanh(w h / 2) whatever the update gate (MATH G1) — h = 0 alone for
    w/2 < 1, and 0, ±a for w/2 > 1; the 16 seeded starts find them at every seed."""
    settings = {"cell": "gru_chung", "n": 1, "W_h": weight, "W_r": 0.0, "b_r": 0.0, "state_scale": 1.0}
    for seed in range(3):
        assert QUANTITIES["fixed_point_count"](Point(settings, seed)) == count
    one = Point({**settings, "starts": 1}, 0, QUANTITIES["fixed_point_count"].settings)
    assert QUANTITIES["fixed_point_count"](one) <= 1  # one start finds one point at most


def test_batches_follow_the_measured_time_per_point():
    assert batch_size([], 1000, 2) == 1
    assert batch_size([TASK_SECONDS / 10] * 5, 1000, 2) == 10
    assert batch_size([TASK_SECONDS / 10] * 5, 1000, 2, points=5) == 2  # chunks of five points
    assert batch_size([TASK_SECONDS / 1000] * 5, 40, 2) == 10  # half an even share of what is left
    assert batch_size([10.0], 1000, 2) == 1
    assert TASK_SECONDS > WRITE_SECONDS  # tasks longer than the loss bound: a task writes as it goes


def _schedule(size, chunks: int, seconds: float, points: int, threads: int) -> tuple[list, int]:
    """The threads' finishing times and the number of tasks when ``chunks`` chunks of ``points``
    points of ``seconds`` each go out as ``_compute`` sends them: batches of ``size(timings,
    left, threads, points)`` chunks, two per thread in flight, each queued behind the thread
    that frees first; a finished task reports its points' times before the next is sized."""
    free, left, timings, in_flight, tasks = [0.0] * threads, chunks, [], [], 0

    def submit(now):
        nonlocal left, tasks
        count = size(timings, left, threads, points)
        thread = min(range(threads), key=free.__getitem__)
        free[thread] = max(free[thread], now) + count * points * seconds
        in_flight.append((free[thread], count))
        left, tasks = left - count, tasks + 1

    while left and len(in_flight) < 2 * threads:
        submit(0.0)
    while in_flight:
        in_flight.sort()
        now, count = in_flight.pop(0)
        timings += [seconds] * (count * points)
        while left and len(in_flight) < 2 * threads:
            submit(now)
    return free, tasks


@pytest.mark.parametrize("chunks, seconds, points, threads", [
    (40, 0.006, 30, 2),  # the benchmark: 1,000 points of about 6 ms in chunks of 30
    (100, 0.006, 10, 2), (64, 0.05, 16, 4), (400, 0.001, 32, 8), (33, 0.2, 3, 2)])
def test_the_last_tasks_are_balanced_and_tasks_are_few(chunks, seconds, points, threads):
    """Simulated with the real sizing: every thread finishes within one chunk's time of the
    others (no thread idles at the end for longer than a chunk takes), and cheap points go
    out in far fewer tasks than chunks; a fixed TASK_SECONDS size without the shrinking share
    (the check shown to catch it) leaves a thread idle for several chunks."""
    chunk = points * seconds
    free, tasks = _schedule(batch_size, chunks, seconds, points, threads)
    assert max(free) - min(free) <= chunk * (1 + 1e-9)
    assert abs(sum(free) - chunks * chunk) <= 1e-9 * chunks * chunk  # every chunk computed once
    if chunk < TASK_SECONDS / 4:
        assert tasks <= chunks / 2

    def fixed(timings, left, threads, points):
        return 1 if not timings else min(left, max(1, int(TASK_SECONDS / (timings[-1] * points))))

    free, _ = _schedule(fixed, 90, 0.006, 10, 2)
    assert max(free) - min(free) > 3 * 0.006 * 10


def test_chunks_hold_many_points_and_cover_each_point_once():
    """Seeds first, then the last grid axes, up to CHUNK_POINTS points, at least MIN_CHUNKS
    chunks; the chunks of a Job partition the points."""
    assert chunk_shape((10, 10, 10)) == (1, 3, 10)  # the benchmark's 1,000 points: 31 fit, ten seeds × 3
    assert chunk_shape((12, 13, 6)) == (1, 4, 6)  # 936 points: 29 fit
    assert chunk_shape((1000, 1)) == (31, 1)  # one seed: neighbours along the grid axis
    assert chunk_shape((100, 100, 100)) == (1, 1, CHUNK_POINTS)  # a partial seed axis; nothing in front
    assert chunk_shape((4, 3)) == (1, 1)  # too few points for more than one per chunk
    assert chunk_shape((4, 30, 1)) == (1, 3, 1) and chunk_shape((4, 8, 1)) == (1, 1, 1)
    assert chunk_shape((4, 3), seeds_per_chunk=2) == (1, 2)
    for shape, per_chunk in itertools.product(((12, 13, 6), (1000, 1), (7, 5, 3)), (None, 2)):
        coords = {f"a{k}": np.arange(n) for k, n in enumerate(shape[:-1])} | {"seed": np.arange(shape[-1])}
        job = Job("spectral_radius", {}, coords, "unused", "spectral_radius", chunk_shape(shape, per_chunk))
        points = [p for chunk in job.chunks() for p in job.points(chunk)]
        assert sorted(points) == list(np.ndindex(*shape))
    assert MIN_CHUNKS * CHUNK_POINTS > 1000


def test_a_chunk_is_written_once_unless_its_points_are_slow(tmp_path, monkeypatch):
    """In a worker's task (run here): a chunk of ten quick points is one write; when points take
    WRITE_SECONDS or more, each is written as soon as it is computed; a chunk resumed from a
    partial write computes only its missing points."""
    coords = coordinates({"x": [0.0, 1.0]}, tuple(range(5)))
    out = tmp_path / "writes.zarr"
    prepare(out, "counted", "", {}, coords, (2, 5))
    markers = tmp_path / "markers"
    markers.mkdir()
    job = Job(cloudpickle.dumps(counted), {"markers": str(markers)}, coords, str(out), "counted", (2, 5))
    writes = []
    real = _sweep.write_chunk
    monkeypatch.setattr(_sweep, "write_chunk", lambda *a: (writes.append(int(a[-1].sum())), real(*a)))
    monkeypatch.setattr(_sweep, "WRITE_SECONDS", 0.0)  # every point counts as slow
    run_batch(job, [(0, 0)], 1)  # reads the chunk: nothing stored
    assert writes == list(range(1, 11))  # each point written when computed, with every earlier one
    out2 = tmp_path / "once.zarr"
    prepare(out2, "counted", "", {}, coords, (2, 5))
    job2 = Job(job.quantity, job.settings, coords, str(out2), "counted", (2, 5))
    monkeypatch.setattr(_sweep, "WRITE_SECONDS", 10.0)
    del writes[:]
    half = np.arange(10) < 4
    real(job2.store, job2.region((0, 0)), np.where(half, 7.0, np.nan), half)  # an earlier attempt stored four
    results = run_batch(job2, [(0, 0)], 1)
    assert writes == [10]  # one write of the whole chunk
    assert [seconds is None for _, seconds in results] == half.tolist()
    stored = zarr.open_group(str(out2), mode="r")
    assert np.array_equal(stored["counted"][...].reshape(-1), np.where(half, 7.0, 10.0 * np.repeat([0, 1], 5) +
                                                                        np.tile(np.arange(5), 2)))
    assert bool(stored["done"][...].all())


def test_command_line_arguments():
    assert axis("gain_W_h=0.5:2:4") == ("gain_W_h", [0.5, 1.0, 1.5, 2.0])
    assert axis("cell=gru_chung,lstm_gain") == ("cell", ["gru_chung", "lstm_gain"])
    assert axis("b_r=-1,0,1") == ("b_r", [-1, 0, 1])
    assert seeds("8") == 8 and seeds("0,3,7") == [0, 3, 7]
    for bad, parse in (("b_r", axis), ("x=1:2:0", axis), ("0", seeds), ("a,b", seeds)):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)
    parser = argparse.ArgumentParser(prog="gatejac")
    add_sweep(parser.add_subparsers())
    args = parser.parse_args(["sweep", "largest_exponent", "--grid", "lam=0.9,1.1", "--out", "x.zarr"])
    assert args.workers == 2 and args.threads_per_worker == 1 and args.scheduler is None and args.seeds == 1


def test_a_missing_sweep_library_is_a_clear_error(monkeypatch, tmp_path):
    """The sweep libraries are the optional ``sweeps`` extra: without one, ``sweep`` says which
    and how to install them, before anything runs."""
    import importlib.util

    from gatejac.verify import SweepError, sweep

    real = importlib.util.find_spec
    monkeypatch.setattr("gatejac.verify._sweep_errors.find_spec",
                        lambda name, *a: None if name == "zarr" else real(name, *a))
    with pytest.raises(SweepError, match=r"sweeps need zarr .*pip install 'gatejac\[sweeps\]'"):
        sweep("spectral_radius", {"b_r": [0.0]}, settings={"cell": "gru_chung", "n": 4}, out=tmp_path / "s.zarr")
    assert not (tmp_path / "s.zarr").exists()


def test_the_local_clusters_workers_do_not_run_the_statistical_profiler(scheduler):
    """The profiler thread samples every stack every 10 ms for a dashboard the local cluster does
    not serve; each worker of the cluster ``sweep`` starts has it switched off (Dask's default
    is on, which this test would see on a cluster started without gatejac's settings) — also a
    worker its nanny restarted after the kill of the killed-worker test, which runs first.  The
    workers also tick every second (QUIET) and run without Dask's MALLOC_TRIM_THRESHOLD_."""
    import dask
    from dask.distributed import Client

    with Client(scheduler) as client:
        enabled = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
        ticks = client.run(lambda: dask.config.get("distributed.admin.tick.interval"))
        trims = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert len(enabled) == 2 and not any(enabled.values())
    assert dask.config.get("distributed.worker.profile.enabled") is True  # the default, untouched here
    assert set(ticks.values()) == {QUIET["distributed.admin.tick.interval"]} != {dask.config.get("distributed.admin.tick.interval")}
    # Dask's nannies set it by default (which pins glibc's mmap threshold: ~500 page faults per
    # 128×128 point in the benchmark); the local cluster leaves it out
    assert "MALLOC_TRIM_THRESHOLD_" in dask.config.get("distributed.nanny.pre-spawn-environ")
    assert set(trims.values()) == {os.environ.get("MALLOC_TRIM_THRESHOLD_")}
