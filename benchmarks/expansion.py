"""Benchmark: the first-order gate expansion — F(0), L_F(0)[B] and c₂ of a window — by gatejac's
one forward recurrence, against the O(T²) double sum and against autograd Jacobians.

Run:  .venv/bin/python benchmarks/expansion.py [--repeats 3] [--quick]

Settings: the multi-gate cell (Livi 2025, arXiv:2508.12121, appendix), float64, one sequence,
h₀ = 0, the paper's sinusoidal input (M = 3), no biases, weights N(0, σ²) with σ = 0.2 at
N = 64 (the paper's) and σ = 0.2·√(64/N) at larger N (the same spectral scale).  Sizes: the
paper's T = 100, N = 64 and T = 1000, N = 256.

Methods, each from the rolled-out trajectory to (F(0), L_F(0)[B], c₂), timed in ONE run with
the methods interleaved in every repeat (machine drift falls on all alike), medians reported:

* ``recurrence numpy`` / ``recurrence torch`` — ``numeric.expansion_factors`` (A_j, B_j from
  the compiled kernels, one batched call) + ``numeric.expand_window`` (5 products per step);
* ``double sum`` — the same factors, then L_F(0)[B] = Σ_i (Π_{j>i} A_j) B_i (Π_{j<i} A_j) from
  prefix/suffix products and c₂ = Σ_{i<j} (Π_{m>j} A_m) B_j (Π_{i<m<j} A_m) B_i (Π_{m<i} A_m)
  pair by pair (3 products per pair, T(T−1)/2 pairs).  Where it would take minutes only the
  first ``--pairs`` pairs are timed and the time is extrapolated linearly in the pair count
  (every pair costs the same three products); the table says so;
* ``autograd`` — per step, ``torch.func.jacrev`` of the compiled torch step for J_j and again
  with the gates overridden by their detached values for A_j (B_j = J_j − A_j), then the same
  recurrence on those stacks (torch).

A second table measures the crossover of ``numeric.expansion_actions`` (F(0)V, L_F(0)[B]V, c₂V
for an S×k block V, factors streamed in chunks) against the dense recurrence followed by
``@ V``, over k.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from gatejac import numeric
from gatejac.symbolic import cells

CELL = "multi_gate"
SIZES = ((100, 64), (1000, 256))


def paper_trajectory(steps: int, n: int, backend: str = "numpy", seed: int = 0, m: int = 3):
    cell = cells.get(CELL)
    rng = np.random.default_rng(seed)
    shapes = numeric.shapes(cell, {"n": n, "m": m})
    sigma = 0.2 * np.sqrt(64 / n)
    params = {name: sigma * rng.standard_normal(shape) if name.startswith("W") else np.zeros(shape)
              for name, shape in shapes.items() if name in {p.name for p in cell.parameters}}
    phases, noise = rng.standard_normal(m), rng.standard_normal((steps, m))
    inputs = np.sin(np.linspace(0, 12, steps)[:, None] * np.linspace(0.03, 0.09, m) + phases) + 0.05 * noise
    values = numeric.convert({"h": np.zeros((1, n)), "x": inputs[:, None, :], **params}, backend, "float64")
    return numeric.rollout(numeric.compile(cell, backend), {"h": values.pop("h")}, {"x": values.pop("x")}, values)


# ------------------------------------------------------------------------------------ methods
def recurrence(trajectory):
    return numeric.expand_window(*numeric.expansion_factors(trajectory))


def double_sum(trajectory, max_pairs: int | None):
    """(F(0), L, c₂, seconds) — c₂'s pair loop stops after ``max_pairs`` pairs and its time is
    extrapolated to all T(T−1)/2 pairs (c₂ is then partial: only its timing is used)."""
    start = time.perf_counter()
    A, B = numeric.expansion_factors(trajectory)
    A, B = A[:, 0], B[:, 0]
    steps, eye = len(A), np.eye(A.shape[-1])
    heads, tails = [eye], [eye]
    for j in range(steps):
        heads.append(A[j] @ heads[-1])  # heads[i] = A_i ⋯ A_1
        tails.append(tails[-1] @ A[steps - 1 - j])
    tails.reverse()  # tails[i] = A_T ⋯ A_{i+1}
    after = [tails[i + 1] @ B[i] for i in range(steps)]  # (Π_{j>i} A_j) B_i
    before = [B[i] @ heads[i] for i in range(steps)]  # B_i (Π_{j<i} A_j)
    first = sum(after[i] @ heads[i] for i in range(steps))
    linear = time.perf_counter() - start
    total_pairs = steps * (steps - 1) // 2
    limit = total_pairs if max_pairs is None else min(max_pairs, total_pairs)
    second, done = np.zeros_like(eye), 0
    start = time.perf_counter()
    for i in range(steps):
        middle = eye
        for j in range(i + 1, steps):
            if done == limit:
                break
            second += after[j] @ middle @ before[i]
            middle = A[j] @ middle
            done += 1
        if done == limit:
            break
    pairs = time.perf_counter() - start
    return heads[-1], first, second, linear + pairs * total_pairs / max(done, 1)


def autograd(trajectory):
    """A_j, B_j from torch.func.jacrev of the torch step (J) and of the step with detached gates (A)."""
    compiled = trajectory.compiled
    gates = [g.name for g in compiled.cell.gates]
    params = trajectory.params
    a_list, b_list = [], []
    for t in range(1, trajectory.steps + 1):
        state, inputs = trajectory.states["h"][t - 1, 0], {k: v[0] for k, v in trajectory.inputs_at(t).items()}
        named = compiled.intermediates({"h": state}, inputs, params)
        frozen = {g: named[g].detach() for g in gates}
        jacobian = torch.func.jacrev(lambda h: compiled.step({"h": h}, inputs, params)["h"])(state)
        a = torch.func.jacrev(lambda h: compiled.step({"h": h}, inputs, params, override=frozen)["h"])(state)
        a_list.append(a)
        b_list.append(jacobian - a)
    return numeric.expand_window(torch.stack(a_list), torch.stack(b_list))


def relative(actual, reference) -> float:
    actual, reference = numeric.to_numpy(actual).reshape(reference.shape), numeric.to_numpy(reference)
    return float(np.linalg.norm(actual - reference) / np.linalg.norm(reference))


def interleaved_medians(functions: dict, repeats: int) -> dict:
    """Median seconds of each function (a function returning a number reports its own,
    e.g. extrapolated, time), timed in turn within every repeat after one warm-up."""
    times = {name: [] for name in functions}
    for repeat in range(repeats + 1):
        for name, function in functions.items():
            start = time.perf_counter()
            reported = function()
            elapsed = reported if isinstance(reported, float) else time.perf_counter() - start
            if repeat:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


# ----------------------------------------------------------------------------------- tables
def expansion_table(repeats: int, max_pairs: int, quick: bool) -> None:
    rows, notes = {}, []
    for steps, n in SIZES[:1] if quick else SIZES:
        numpy_view, torch_view = paper_trajectory(steps, n), paper_trajectory(steps, n, "torch")
        reference = recurrence(numpy_view)
        pairs = None if steps * (steps - 1) // 2 <= max_pairs else max_pairs
        if pairs is not None:
            notes.append(f"T = {steps}, N = {n}: the double sum's c₂ loop was timed over its first {pairs} of "
                         f"{steps * (steps - 1) // 2} pairs and extrapolated linearly in the pair count.")
        else:
            _, first, second, _ = double_sum(numpy_view, None)
            notes.append(f"T = {steps}, N = {n}: double sum vs recurrence, relative difference "
                         f"L {relative(first, reference.first[0]):.1e}, "
                         f"c₂ {relative(second, reference.second[0]):.1e}.")
        by_autograd = autograd(torch_view)
        notes.append(f"T = {steps}, N = {n}: autograd vs recurrence, relative difference "
                     f"L {relative(by_autograd.first, reference.first):.1e}, "
                     f"c₂ {relative(by_autograd.second, reference.second):.1e}; "
                     f"‖F(0)‖_F = {np.linalg.norm(reference.zeroth):.3e}, "
                     f"‖c₂‖_F = {np.linalg.norm(reference.second):.3e}.")
        rows[(steps, n)] = interleaved_medians({
            "recurrence numpy": lambda: recurrence(numpy_view),
            "recurrence torch": lambda: recurrence(torch_view),
            "double sum (numpy)": lambda: double_sum(numpy_view, pairs)[3],
            "autograd (jacrev per step) + recurrence": lambda: autograd(torch_view),
        }, repeats)
    print(f"### F(0), L_F(0)[B] and c₂ of one window ({CELL}, float64, median of {repeats} interleaved repeats)\n")
    header = "| method | " + " | ".join(f"T = {t}, N = {n}: ms | × recurrence numpy" for t, n in rows) + " |"
    print(header)
    print("|" + "---|" * (1 + 2 * len(rows)))
    for method in next(iter(rows.values())):
        cells_ = []
        for times in rows.values():
            cells_ += [f"{1e3 * times[method]:.1f}", f"{times[method] / times['recurrence numpy']:.2f}"]
        print(f"| {method} | " + " | ".join(cells_) + " |")
    print()
    for note in notes:
        print(f"* {note}")
    print()


def crossover_table(repeats: int, quick: bool) -> None:
    print(f"### Block actions against the dense recurrence (F(0)V, L_F(0)[B]V, c₂V for V of k columns; "
          f"numpy, median of {repeats})\n")
    print("| T | N | k | dense recurrence, ms | expansion_actions, ms | actions / dense |")
    print("|---|---|---|---|---|---|")
    for steps, n in ((100, 64),) if quick else ((100, 64), (100, 256), (1000, 256)):
        trajectory = paper_trajectory(steps, n)
        for columns in (1, n // 8, n // 4, n // 2, 3 * n // 4, n):
            block = np.random.default_rng(0).standard_normal((n, columns))
            times = interleaved_medians({
                "dense": lambda: [m @ block for m in recurrence(trajectory)],
                "actions": lambda: numeric.expansion_actions(trajectory, block),
            }, repeats)
            print(f"| {steps} | {n} | {columns} | {1e3 * times['dense']:.1f} | {1e3 * times['actions']:.1f} | "
                  f"{times['actions'] / times['dense']:.2f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per method (after one warm-up)")
    parser.add_argument("--pairs", type=int, default=5000,
                        help="time at most this many (i, j) pairs of the O(T²) sum, extrapolate the rest")
    parser.add_argument("--quick", action="store_true", help="only the paper's size (T = 100, N = 64)")
    options = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}\n")
    expansion_table(options.repeats, options.pairs, options.quick)
    crossover_table(options.repeats, options.quick)


if __name__ == "__main__":
    main()
