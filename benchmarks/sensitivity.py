"""Benchmark: S1 sensitivities and S2 per-example gradients (Livi 2025, arXiv:2508.12121,
Section VII) — gatejac against autograd and dense products, in ONE run.

Run:  .venv/bin/python benchmarks/sensitivity.py [--repeats 1] [--quick]

1. S1 sensitivities S_{t,k} = ‖Φ(t, k)‖₂ for all (b, t, k), k < t, at the paper's size: the
   multi-gate cell without biases, T = 80, N = 64, 12 probe sequences of the adding task
   (3 uniform channels + a mask with one marker in each half), torch-default initialisation,
   float64.  Methods:

   * ``gatejac numpy`` / ``gatejac torch`` — ``sensitivities(trajectory)``: one rescaled lag
     sweep, σ₁ from λ_max(ΦᵀΦ) (batched ``eigvalsh``), in the trajectory's back-end;
   * ``gatejac, σ₁ by SVD`` — the same sweep (torch) with σ₁ from a batched ``svdvals``
     instead: the alternative the eigenvalue route was chosen over;
   * ``dense products`` — for each k, Φ(t, k) for every t by ``Trajectory.transports_from(k)``
     (NumPy), then ``numpy.linalg.norm(·, 2)`` (an SVD per product);
   * ``autograd`` — J_t by ``torch.func.jacrev`` of the compiled torch step per step (vmapped
     over the sequences), then the same per-k sweeps (torch) and ``numpy.linalg.norm(·, 2)``
     (NumPy's batched SVD: torch's ``svdvals`` is several times slower on 64×64 matrices here);
   * ``power5`` — the paper's code's five power iterations (``norm="power5"``), for its
     time and its under-estimate of the norm (it converges to the spectral radius).

2. The per-example gradient matrix (M = 256 sequences, every parameter with the readout) of
   the multi-gate cell unrolled by its compiled torch step at the S2 size (T = 120, N = 64,
   6 input channels): ``per_example_gradients`` (``torch.func`` ``vmap(grad)``) against a loop
   of 256 ``loss.backward()`` calls.

torch runs on ONE intra-op thread by default (``--threads``): on this shared two-core machine
two threads made the batched torch kernels erratic — vmap(grad) over 128 sequences took 0.38 s
on one thread and 3.3 s on two (10 s with chunks of 32) — while the small kernels of the loop
and of NumPy's batched LAPACK calls do not use them.

After an untimed warm-up at small sizes (first calls of torch kernels, ``vmap``, ``jacrev``),
times are medians over ``--repeats`` (methods interleaved in each repeat) and ratios the
medians of the within-repeat ratios to gatejac (NumPy for S1); the tables also give the largest
relative difference of each method's values from gatejac's.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time

import numpy as np
import torch

from gatejac import numeric
from gatejac.numeric._gradient_covariance import per_example_gradients
from gatejac.numeric._sensitivity import chain_step, convention_factors, rescaled, sensitivities
from gatejac.symbolic import cells

CELL = "multi_gate"


def adding_inputs(steps: int, batch: int, channels: int, seed: int) -> np.ndarray:
    """(T, B, channels): uniform content channels and a mask channel with two markers."""
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(size=(steps, batch, channels))
    inputs[..., -1] = 0.0
    for b in range(batch):
        inputs[rng.integers(0, steps // 2), b, -1] = 1.0
        inputs[rng.integers(steps // 2, steps), b, -1] = 1.0
    return inputs


def probe_trajectory(backend: str, steps: int, n: int, batch: int):
    cell = cells.get(CELL, bias=False)
    params = numeric.initialise(cell, {"n": n, "m": 4}, seed=1)
    values = numeric.convert({"h": np.zeros((batch, n)), "x": adding_inputs(steps, batch, 4, 2), **params},
                             backend, "float64")
    return numeric.rollout(numeric.compile(cell, backend), {"h": values.pop("h")}, {"x": values.pop("x")}, values)


# ------------------------------------------------------------------------------ S1 methods
def sweep_with_svd(trajectory) -> np.ndarray:
    """The rescaled lag sweep with σ₁ from svdvals (torch), ln S as (B, T+1, T+1)."""
    factors = convention_factors(trajectory, "exact")
    steps = int(factors.shape[0])
    result = np.full((int(factors.shape[1]), steps + 1, steps + 1), np.nan)
    product, scale = rescaled(factors, 0 * factors[..., 0, 0])
    for lag in range(1, steps + 1):
        if lag > 1:
            product, scale = rescaled(chain_step(factors[lag - 1:], product[:-1], "exact"), scale[:-1])
        logs = (scale + torch.log(torch.linalg.svdvals(product)[..., 0])).numpy()
        starts = np.arange(steps + 1 - lag)
        result[:, starts + lag, starts] = logs.T
    return result


def dense_products(trajectory) -> np.ndarray:
    steps = trajectory.steps
    result = None
    for k in range(steps):
        norms = np.linalg.norm(trajectory.transports_from(k)[1:], ord=2, axis=(-2, -1))  # (T − k, B)
        if result is None:
            result = np.full((norms.shape[1], steps + 1, steps + 1), np.nan)
        result[:, k + 1:, k] = norms.T
    return np.log(result)


def autograd_products(trajectory) -> np.ndarray:
    compiled, params = trajectory.compiled, trajectory.params

    def step(h, x):
        return compiled.step({"h": h}, {"x": x}, params)["h"]

    per_sequence = torch.func.vmap(torch.func.jacrev(step, argnums=0))
    jacobians = torch.stack([per_sequence(trajectory.states["h"][t - 1], trajectory.inputs["x"][t - 1])
                             for t in range(1, trajectory.steps + 1)])
    steps, batch = trajectory.steps, int(jacobians.shape[1])
    result = np.full((batch, steps + 1, steps + 1), np.nan)
    for k in range(steps):
        products = numeric.prefix_products(jacobians[k:]).numpy()[1:]  # Φ(t, k), t = k+1..T
        result[:, k + 1:, k] = np.linalg.norm(products, ord=2, axis=(-2, -1)).T  # NumPy's SVD: torch's is slower
    return np.log(result)


def largest_relative(logs, reference) -> float:
    mask = ~np.isnan(reference)
    return float(np.max(np.abs(np.expm1(logs[mask] - reference[mask]))))


def interleaved(functions: dict, repeats: int, baseline: str) -> tuple[dict, dict, dict]:
    """Median times, median within-repeat ratios to ``baseline`` (robust to the shared
    machine's load drifting between repeats) and the last outputs."""
    times, ratios, outputs = {name: [] for name in functions}, {name: [] for name in functions}, {}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            outputs[name] = function()
            times[name].append(time.perf_counter() - start)
        for name in functions:
            ratios[name].append(times[name][-1] / times[baseline][-1])
    median = {name: statistics.median(values) for name, values in times.items()}
    return median, {name: statistics.median(values) for name, values in ratios.items()}, outputs


def s1_table(repeats: int, quick: bool) -> None:
    steps, n, batch = (20, 16, 3) if quick else (80, 64, 12)
    numpy_trajectory = probe_trajectory("numpy", steps, n, batch)
    torch_trajectory = probe_trajectory("torch", steps, n, batch)
    functions = {
        "gatejac numpy": lambda: sensitivities(numpy_trajectory).log_values,
        "gatejac torch": lambda: sensitivities(torch_trajectory).log_values,
        "gatejac torch, σ₁ by SVD": lambda: sweep_with_svd(torch_trajectory),
        "dense products (NumPy SVD)": lambda: dense_products(numpy_trajectory),
        "autograd jacrev + products": lambda: autograd_products(torch_trajectory),
        "power5 (paper's code)": lambda: sensitivities(torch_trajectory, norm="power5").log_values,
    }
    times, ratios, outputs = interleaved(functions, repeats, "gatejac numpy")
    reference = outputs["gatejac numpy"]
    print(f"\nS1 sensitivities, {CELL}, T = {steps}, N = {n}, {batch} sequences "
          f"({batch * steps * (steps + 1) // 2} pairs), median of {repeats}")
    print(f"{'method':32s} {'seconds':>9s} {'÷ numpy':>10s} {'max rel. diff':>14s}")
    for name, seconds in times.items():
        print(f"{name:32s} {seconds:9.3f} {ratios[name]:10.2f} {largest_relative(outputs[name], reference):14.2e}")
    power = np.exp(outputs["power5 (paper's code)"] - reference)
    print(f"power5 / exact norm: median {np.nanmedian(power):.3f}, min {np.nanmin(power):.3f}")


# ------------------------------------------------------------------------------ S2 gradients
class UnrolledCell(torch.nn.Module):
    """The multi-gate cell unrolled by its compiled torch step, h₀ = 0, readout W_o h_T."""

    def __init__(self, n: int, m: int):
        super().__init__()
        cell = cells.get(CELL, bias=False)
        self.compiled, self.n = numeric.compile(cell, "torch"), n
        values = numeric.initialise(cell, {"n": n, "m": m}, seed=0, backend="torch")
        self.weights = torch.nn.ParameterDict({k: torch.nn.Parameter(v) for k, v in values.items()})
        self.readout = torch.nn.Parameter(torch.full((1, n), 1 / n, dtype=torch.float64))

    def forward(self, inputs):
        state = {"h": inputs.new_zeros(inputs.shape[0], self.n)}
        for t in range(inputs.shape[1]):
            state = self.compiled.step(state, {"x": inputs[:, t]}, dict(self.weights))
        return state["h"] @ self.readout.T


def loop_gradients(model, inputs, targets):
    rows = []
    for m in range(inputs.shape[0]):
        model.zero_grad()
        torch.nn.functional.mse_loss(model(inputs[m:m + 1]), targets[m:m + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    return torch.stack(rows)


def s2_table(repeats: int, quick: bool) -> None:
    count, steps, n, m = (32, 30, 16, 6) if quick else (256, 120, 64, 6)
    model = UnrolledCell(n, m)
    inputs = torch.from_numpy(adding_inputs(steps, count, m, 3)).transpose(0, 1).contiguous()
    targets = torch.rand(count, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    functions = {
        "vmap(grad) (gatejac)": lambda: per_example_gradients(model, torch.nn.functional.mse_loss, inputs, targets),
        "loop of backward passes": lambda: loop_gradients(model, inputs, targets),
    }
    times, ratios, outputs = interleaved(functions, repeats, "vmap(grad) (gatejac)")
    reference = outputs["vmap(grad) (gatejac)"]
    scale = float(torch.max(torch.abs(reference)))
    print(f"\nS2 per-example gradients, {CELL}, M = {count}, T = {steps}, N = {n}, "
          f"{reference.shape[1]} parameters, median of {repeats}")
    print(f"{'method':32s} {'seconds':>9s} {'÷ gatejac':>10s} {'max abs diff / max':>19s}")
    for name, seconds in times.items():
        difference = float(torch.max(torch.abs(outputs[name] - reference))) / scale
        print(f"{name:32s} {seconds:9.3f} {ratios[name]:10.2f} {difference:19.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1, see above)")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    print(f"torch threads: {torch.get_num_threads()}")
    with contextlib.redirect_stdout(io.StringIO()):  # warm-up: first calls of torch kernels, vmap, jacrev
        s1_table(1, True)
        s2_table(1, True)
    s1_table(arguments.repeats, arguments.quick)
    s2_table(arguments.repeats, arguments.quick)


if __name__ == "__main__":
    main()
