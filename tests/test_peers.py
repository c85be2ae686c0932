"""``benchmarks/peers.py`` (gatejac against JAX and torch.func) runs, and its equality check bites.

The quick mode runs on the smallest size in a fresh interpreter so that the script cannot rot;
it needs JAX (the optional extra ``bench``) and is skipped with the reason when JAX is absent.
"""

import importlib.util
import re
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "peers.py"


def _peers():
    spec = importlib.util.spec_from_file_location("gatejac_bench_peers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_times_every_peer_at_the_smallest_size():
    pytest.importorskip("jax", reason="JAX is not installed (the optional extra 'bench'); peers.py needs it")
    peers = _peers()
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--sizes", "4", "--batch", "8"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| gru_torch | 4 |")]
    assert len(rows) == 2, done.stdout
    for row in rows:
        fields = [f.strip() for f in row.strip("|").split("|")]
        # gatejac out=, gatejac, then jax jacfwd, jax jacrev, torch vmap(jacrev), torch vmap(jacfwd): all timed
        assert all(re.fullmatch(r"\d+\.\d\d", f) for f in fields[3:5] + fields[6:10]), row
        assert "gatejac " + fields[5] in peers.GATEJAC_ROUTES, row
        first_calls = fields[11].split(" / ")  # the jit kernel's first call, then the peers'
        assert all(re.fullmatch(r"\d+\.\d\d", f) for f in first_calls[:5]), row
    assert "differs from gatejac" not in done.stdout and "failed" not in done.stdout
    assert re.search(r"out= against allocating .*: faster in \d, equal in \d, equal within noise in \d, slower in \d of 2 rows",
                     done.stdout)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_equality_check_catches_a_wrong_jacobian(dtype):
    peers = _peers()
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((3, 5, 5))
    assert peers.disagreement(reference.astype(dtype), reference, dtype) is None
    wrong = reference.copy()
    wrong[1, 2, 3] += 1e-3  # one entry off, far above float32 round-off
    assert "differs from gatejac" in peers.disagreement(wrong.astype(dtype), reference, dtype)
    assert "shape" in peers.disagreement(reference[:, :4], reference, dtype)


def test_a_contender_slower_than_the_time_cap_is_timed_by_one_call():
    import time

    peers = _peers()
    calls = {"fast": 0, "slow": 0}

    def fast():
        calls["fast"] += 1

    def slow():
        calls["slow"] += 1
        time.sleep(0.03)

    times, once, errors = peers.timed_ms({"fast": fast, "slow": slow}, repeats=5, time_cap=0.02, budget=60.0)
    assert set(errors) == {"fast"} and errors["fast"] >= 0
    assert once == {"slow"}
    assert calls["slow"] == 1 and times["slow"] >= 30.0
    assert calls["fast"] == 1 + 5 * (1 + 2 * 5)  # the probe, then per round a block: a warm-up, 5 untimed and 5 timed calls


def test_the_peer_selector_the_torch_cap_and_the_output_cap():
    """``--peers jax torch``: no torch.compile column; ``--torch-func-max-n 2``: the torch peers at
    n = 2 only, the others named in the notes; ``--max-output-mib``: the float64 row at n = 4
    (1 KiB) is skipped and listed, the float32 one (0.5 KiB) is not; ``--time-cap 0``: every
    contender timed by one call."""
    pytest.importorskip("jax", reason="JAX is not installed (the optional extra 'bench'); peers.py needs it")
    done = subprocess.run([sys.executable, str(SCRIPT), "--cells", "leaky", "--sizes", "2", "4", "--batch", "8",
                           "--peers", "jax", "torch", "--torch-func-max-n", "2", "--time-cap", "0",
                           "--max-output-mib", "0.0007", "--repeats", "3"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {tuple(f.strip() for f in line.strip("|").split("|")[:3]): [f.strip() for f in line.strip("|").split("|")]
            for line in done.stdout.splitlines() if line.startswith("| leaky |")}
    assert set(rows) == {("leaky", "2", "float64"), ("leaky", "2", "float32"), ("leaky", "4", "float32")}
    for (_, n, _), fields in rows.items():
        jax_fields, torch_fields = fields[6:8], fields[8:10]  # no torch.compile column: its group was not run
        assert all(f.endswith("(1 call)") for f in jax_fields), fields
        assert all(f.endswith("(1 call)") for f in torch_fields) if n == "2" else torch_fields == ["—", "—"], fields
        assert len(fields) == 12 and fields[10].endswith(")"), fields  # then peer/gatejac and the first calls
    assert "leaky n = 4 float64: skipped, output" in done.stdout
    assert "skipped above n = 2 (--torch-func-max-n)" in done.stdout


def test_blocks_time_each_contender_as_a_loop_of_it_whatever_ran_before():
    """A contender that is slow for its first two calls after another function (as gatejac
    was after a JAX call) is timed at its steady cost (an untimed call before each timed one
    is not enough); each block's calls are consecutive; the
    order of the blocks changes from round to round."""
    import time

    peers = _peers()
    log = []

    def contender(name, seconds):
        def call():
            cold = log[-2:] != [name, name]  # the first two calls after another function are slow
            log.append(name)
            time.sleep(seconds + (0.02 if name == "victim" and cold else 0.0))
        return call

    functions = {"victim": contender("victim", 0.002), "other": contender("other", 0.001),
                 "third": contender("third", 0.001)}
    samples = peers.block_samples_ms(functions, rounds=6, calls=2)
    assert all(len(values) == 6 for values in samples.values())
    assert 2.0 <= statistics.median(samples["victim"]) < 10.0  # the 20 ms first calls after another are not samples
    blocks = [log[i:i + 5] for i in range(0, len(log), 5)]
    assert all(len(set(block)) == 1 for block in blocks)  # warm-up, then 2 x (untimed, timed), of one function
    predecessors = {blocks[i - 1][0] for i in range(1, len(blocks)) if blocks[i][0] == "victim"}
    assert {"other", "third"} <= predecessors  # not always the same one (a rotation would keep it)


def test_the_row_budget_shortens_the_blocks_before_the_rounds(monkeypatch):
    import types

    peers = _peers()
    clock = {"now": 0.0, "calls": 0}
    monkeypatch.setattr(peers, "time", types.SimpleNamespace(perf_counter=lambda: clock["now"]))

    def ten_ms():  # on the clock the budget is measured with
        clock["calls"] += 1
        clock["now"] += 0.01

    # budget 0.25 s: three rounds of blocks of k calls take 3 (1 + 2k) 10 ms -> k = 3, then 3 rounds
    peers.timed_ms({"a": ten_ms}, repeats=11, time_cap=1.0, budget=0.25)
    assert clock["calls"] == 1 + 3 * (1 + 2 * 3)
    clock["calls"] = 0
    peers.timed_ms({"a": ten_ms}, repeats=11, time_cap=1.0, budget=10.0)  # room: full blocks, 11 rounds
    assert clock["calls"] == 1 + 11 * (1 + 2 * peers.BLOCK_CALLS)


def test_gatejac_best_takes_the_fastest_route_of_each_kind_and_the_row_names_it():
    peers = _peers()
    times = {"gatejac numpy out=": 1.0, "gatejac numpy": 1.2, "gatejac torch out=": 1.1, "gatejac torch": 1.3,
             "gatejac jit out=": 0.5, "gatejac jit": 0.4, "jax jacfwd": 2.0}
    assert peers.gatejac_best(times) == ("gatejac jit out=", "gatejac jit")
    without_jit = {k: v for k, v in times.items() if "jit" not in k}
    assert peers.gatejac_best(without_jit) == ("gatejac numpy out=", "gatejac numpy")
    fields = [f.strip() for f in peers.table_row("leaky", 16, "float64", times, set(), {"gatejac jit": 1.25}, {})
              .strip("|").split("|")]
    assert fields[3:6] == ["0.50", "0.40", "jit"]
    assert fields[11] == "5.0× (jax jacfwd)"  # 2.0 / 0.4: the fastest peer over gatejac's fastest route
    assert fields[12].startswith("1.25 / —")


def test_a_jit_kernel_that_disagrees_is_reported_and_not_timed(monkeypatch):
    """The jit routes are checked against the default kernel like every peer: a jit kernel with
    a wrong entry is left out with the reason, a right one gives both jit routes."""
    from gatejac import numeric
    from gatejac.symbolic import cells

    peers = _peers()
    cell = cells.get("leaky")
    functions, first, skipped = peers.peer_functions(cell, 4, 8, "float64", (), None, 64)
    assert {"gatejac jit", "gatejac jit out="} <= set(functions) and "gatejac jit" in first
    real = numeric.compile

    class Broken:
        def __init__(self, kernel):
            self.kernel = kernel

        def state_jacobian(self, *values, out=None):
            result = self.kernel.state_jacobian(*values, out=out)
            result[0, 1, 2] += 1e-3
            return result

    monkeypatch.setattr(peers.numeric, "compile", lambda c, b="numpy", jit=False: Broken(real(c, b, jit=True)) if jit else real(c, b))
    functions, first, skipped = peers.peer_functions(cell, 4, 8, "float64", (), None, 64)
    assert not {"gatejac jit", "gatejac jit out="} & set(functions)
    assert "differs from gatejac" in skipped["gatejac jit"]
    assert {"gatejac numpy", "gatejac numpy out=", "gatejac torch", "gatejac torch out="} <= set(functions)


def test_out_against_allocating_counts_a_difference_within_the_noise_and_no_more():
    peers = _peers()
    assert peers.median_error([1.0, 1.0, 1.0]) == 0.0
    error = peers.median_error([0.9, 1.0, 1.1, 1.0, 1.3])  # MAD 0.1 over 5 rounds
    assert abs(error - 1.2533 * 1.4826 * 0.1 / 5**0.5) < 1e-12
    times = {"gatejac numpy out=": 1.00, "gatejac numpy": 1.00, "gatejac torch out=": 2.0, "gatejac torch": 2.0}
    assert peers.out_against_allocating(times, {}) == "equal"
    assert peers.out_against_allocating({**times, "gatejac numpy out=": 0.99}, {}) == "faster"
    slower = {**times, "gatejac numpy out=": 1.03}
    assert peers.out_against_allocating(slower, {}) == "slower"  # no spread measured: any excess is slower
    assert peers.out_against_allocating(slower, {"gatejac numpy out=": 0.012, "gatejac numpy": 0.012}) == "equal within noise"
    assert peers.out_against_allocating(slower, {"gatejac numpy out=": 0.01, "gatejac numpy": 0.01}) == "slower"  # 0.03 > 2·0.0141


def test_each_out_route_writes_into_a_result_gatejac_returned():
    """The jit route's ``out=`` is its own first result (on a cache line, as every jit output),
    the same array every call; the NumPy and torch routes share the NumPy kernel's result."""
    import torch

    from gatejac.symbolic import cells

    peers = _peers()
    functions, _, _ = peers.peer_functions(cells.get("leaky"), 4, 8, "float64", (), None, 64)
    jit_out, numpy_out = functions["gatejac jit out="](), functions["gatejac numpy out="]()
    assert functions["gatejac jit out="]() is jit_out and functions["gatejac numpy out="]() is numpy_out
    assert jit_out is not numpy_out and jit_out.ctypes.data % 64 == 0
    torch_out = functions["gatejac torch out="]()
    assert isinstance(torch_out, torch.Tensor) and torch_out.data_ptr() == numpy_out.ctypes.data
    assert peers.disagreement(jit_out, numpy_out, "float64") is None  # the reference tolerance
