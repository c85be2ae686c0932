"""Benchmark of the learning analyses (Livi 2025, arXiv:2508.12121, Section VII), in ONE run:
S1 sensitivities against autograd Jacobians and dense products, S2 per-example gradients
through ``vmap(grad)`` against a loop of backward passes, and the training step of
``numeric.module`` against a hand-written plain-torch module (and ``torch.nn.GRU``).

Run:  .venv/bin/python benchmarks/learning.py [--repeats 1] [--training-repeats 15] [--threads 1] [--quick]
      [--tables s1,s2,training]

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
   the multi-gate cell without biases as ``numeric.module`` (float64) at the S2 size (T = 120, N = 64,
   6 input channels): ``per_example_gradients`` (``torch.func`` ``vmap(grad)``) against a loop
   of 256 ``loss.backward()`` calls.

3. One training step (forward over the sequence, ŷ = W_o h_T, MSE, ``backward``, one SGD update,
   μ = 1e-2) at N = 64, T = 80, batch 64, M = 4 (the S1 size), the catalogue cells with their
   biases, float32 and float64: ``module`` (``numeric.module(cell, sizes, outputs=1)``: the
   compiled torch step bound once, called positionally), ``checked step`` (the same loop through
   the checked ``CompiledCell.step``), ``per-step transposes`` (the loop through the raw step
   kernel, which takes Wᵀ at every step, as the module did before it took each Wᵀ once per
   sequence; ``module / per-step transposes`` is that change's ratio), ``plain`` (a hand-written ``torch.nn.Module`` of the same
   cell: ``F.linear`` with the bias fused, one line per equation) and, for gru_torch,
   ``torch.nn.GRU`` with the same weights.  The issue asks ``module / plain`` ≤ 1.3.

Every contender is checked equal to the reference before it is timed (S1: the largest relative
difference of ln S is printed; S2: of the gradients; training: the forward outputs agree to 1e-4
in float32, 1e-10 in float64, asserted).

Timing (one function, :func:`interleaved`): after warm-up rounds, every repeat times each method
once, in a rotating order (machine drift falls on all alike); a table gives each method's median
time and its ratio to the reference as the median over repeats of the ratio within a repeat (the
two ran close together, so a load spike of the shared machine moves both).

torch runs on ONE intra-op thread by default (``--threads``): on this shared two-core machine
two threads made the batched torch kernels erratic — vmap(grad) over 128 sequences took 0.38 s
on one thread and 3.3 s on two (10 s with chunks of 32) — while the small kernels of the loop
and of NumPy's batched LAPACK calls do not use them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from gatejac import numeric
from gatejac.numeric._gradient_covariance import per_example_gradients
from gatejac.numeric._module import module
from gatejac.numeric._sensitivity import chain_step, convention_factors, rescaled, sensitivities
from gatejac.symbolic import cells
from gatejac.verify._tasks import Task

N_TRAIN, T_TRAIN, BATCH, M_TRAIN = 64, 80, 64, 4
TRAINING_CELLS = ("leaky", "scalar_gate", "multi_gate", "elman", "gru_torch")


# ------------------------------------------------------------------------------ timing
def interleaved(functions: dict, repeats: int, warmup: int = 0) -> tuple[dict, dict]:
    """The times (s) of every function in every repeat, each repeat running them all once in a
    rotating order after ``warmup`` untimed rounds; and each function's last output."""
    names = list(functions)
    times, outputs = {name: [] for name in names}, {}
    for repeat in range(warmup + repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            outputs[name] = functions[name]()
            if repeat >= warmup:
                times[name].append(time.perf_counter() - start)
    return times, outputs


def paired_ratio(numerator: list, denominator: list) -> float:
    """The median over repeats of the ratio of two methods' times in the same repeat."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


# ------------------------------------------------------------------------------ S1 and S2
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
    times, outputs = interleaved(functions, repeats)
    ratios = {name: paired_ratio(times[name], times["gatejac numpy"]) for name in times}
    times = {name: statistics.median(values) for name, values in times.items()}
    reference = outputs["gatejac numpy"]
    print(f"\nS1 sensitivities, {CELL}, T = {steps}, N = {n}, {batch} sequences "
          f"({batch * steps * (steps + 1) // 2} pairs), median of {repeats}")
    print(f"{'method':32s} {'seconds':>9s} {'÷ numpy':>10s} {'max rel. diff':>14s}")
    for name, seconds in times.items():
        print(f"{name:32s} {seconds:9.3f} {ratios[name]:10.2f} {largest_relative(outputs[name], reference):14.2e}")
    power = np.exp(outputs["power5 (paper's code)"] - reference)
    print(f"power5 / exact norm: median {np.nanmedian(power):.3f}, min {np.nanmin(power):.3f}")


# ------------------------------------------------------------------------------ S2 gradients
def loop_gradients(model, inputs, targets):
    rows = []
    for m in range(inputs.shape[0]):
        model.zero_grad()
        torch.nn.functional.mse_loss(model(inputs[m:m + 1]), targets[m:m + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    return torch.stack(rows)


def s2_table(repeats: int, quick: bool) -> None:
    count, steps, n, m = (32, 30, 16, 6) if quick else (256, 120, 64, 6)
    model = module(cells.get(CELL, bias=False), {"n": n, "m": m}, outputs=1, dtype="float64")
    inputs = torch.from_numpy(adding_inputs(steps, count, m, 3)).transpose(0, 1).contiguous()
    targets = torch.rand(count, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    functions = {
        "vmap(grad) (gatejac)": lambda: per_example_gradients(model, torch.nn.functional.mse_loss, inputs, targets),
        "loop of backward passes": lambda: loop_gradients(model, inputs, targets),
    }
    times, outputs = interleaved(functions, repeats)
    ratios = {name: paired_ratio(times[name], times["vmap(grad) (gatejac)"]) for name in times}
    times = {name: statistics.median(values) for name, values in times.items()}
    reference = outputs["vmap(grad) (gatejac)"]
    scale = float(torch.max(torch.abs(reference)))
    print(f"\nS2 per-example gradients, {CELL}, M = {count}, T = {steps}, N = {n}, "
          f"{reference.shape[1]} parameters, median of {repeats}")
    print(f"{'method':32s} {'seconds':>9s} {'÷ gatejac':>10s} {'max abs diff / max':>19s}")
    for name, seconds in times.items():
        difference = float(torch.max(torch.abs(outputs[name] - reference))) / scale
        print(f"{name:32s} {seconds:9.3f} {ratios[name]:10.2f} {difference:19.2e}")


# ------------------------------------------------------------------------------ training: plain modules
def _leaky(p, h, x):
    return (1 - p["alpha"]) * h + p["alpha"] * torch.tanh(F.linear(h, p["W"], p["b"]) + F.linear(x, p["U"]))


def _scalar_gate(p, h, x):
    g = torch.sigmoid(h @ p["w_rg"][:, None] + x @ p["w_ig"][:, None] + p["b_g"])
    return (1 - g) * h + g * torch.tanh(F.linear(h, p["W_r"], p["b"]) + F.linear(x, p["W_i"]))


def _multi_gate(p, h, x):
    g = torch.sigmoid(F.linear(h, p["W_rg"], p["b_g"]) + F.linear(x, p["W_ig"]))
    return (1 - g) * h + g * torch.tanh(F.linear(h, p["W_r"], p["b"]) + F.linear(x, p["W_i"]))


def _elman(p, h, x):
    return torch.tanh(F.linear(h, p["W"], p["b"]) + F.linear(x, p["U"]))


def _gru(p, h, x):
    r = torch.sigmoid(F.linear(x, p["W_ir"], p["b_ir"]) + F.linear(h, p["W_hr"], p["b_hr"]))
    z = torch.sigmoid(F.linear(x, p["W_iz"], p["b_iz"]) + F.linear(h, p["W_hz"], p["b_hz"]))
    n = torch.tanh(F.linear(x, p["W_in"], p["b_in"]) + r * F.linear(h, p["W_hn"], p["b_hn"]))
    return (1 - z) * n + z * h


PLAIN = {"leaky": _leaky, "scalar_gate": _scalar_gate, "multi_gate": _multi_gate, "elman": _elman, "gru_torch": _gru}


class Plain(torch.nn.Module):
    """A hand-written module: ``step(params, h, x)`` over time, readout W_o h_T."""

    def __init__(self, step, values: dict, readout):
        super().__init__()
        self.step = step
        self.fixed = {k: v for k, v in values.items() if k == "alpha"}
        self.params = torch.nn.ParameterDict({k: torch.nn.Parameter(v.clone()) for k, v in values.items()
                                              if k not in self.fixed})
        self.readout = torch.nn.Parameter(readout.detach().clone())

    def forward(self, x):
        p = {**self.params, **self.fixed}
        h = x.new_zeros(x.shape[0], self.readout.shape[1])
        for x_t in x.unbind(1):
            h = self.step(p, h, x_t)
        return F.linear(h, self.readout)


class Checked(torch.nn.Module):
    """The module's loop through the checked ``CompiledCell.step``."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        params = {name: getattr(self.net.weights, name) for name in self.net.values()}
        states = {"h": x.new_zeros(x.shape[0], N_TRAIN)}
        for x_t in x.unbind(1):
            states = self.net.compiled.step(states, {"x": x_t}, params)
        return self.net.readout(states["h"])


class PerStepTransposes(torch.nn.Module):
    """The module's loop through the raw step kernel, which takes Wᵀ at every step: the module
    as it was before it held each Wᵀ once per sequence."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.step = net.compiled.kernel("step")

    def forward(self, x):
        values = [value.reshape(1) if value.ndim == 0 else value
                  for value in (getattr(self.net.weights, name) for name in self.net.values())]
        states = [x.new_zeros(x.shape[0], N_TRAIN) for _ in self.net.cell.states]
        for x_t in x.unbind(1):
            states = self.step(*states, x_t, *values)
        return self.net.readout(states[0])


class TorchGRU(torch.nn.Module):
    """``torch.nn.GRU`` (one layer, batch first) with the module's weights, readout W_o h_T."""

    def __init__(self, net):
        super().__init__()
        cell = net.to_torch()
        self.gru = torch.nn.GRU(M_TRAIN, N_TRAIN, batch_first=True, dtype=cell.weight_hh.dtype)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.gru, f"{name}_l0").copy_(getattr(cell, name))
        self.readout = torch.nn.Parameter(net.readout.weight.detach().clone())

    def forward(self, x):
        return F.linear(self.gru(x)[0][:, -1], self.readout)


# ------------------------------------------------------------------------------ training: timing
def training_step(model, inputs, targets):
    """One SGD training step of ``model``; returns a closure that runs it."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)

    def run():
        loss = F.mse_loss(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return run


def training_methods(name: str, dtype: str) -> dict:
    net = module(name, {"n": N_TRAIN, "m": M_TRAIN}, outputs=1, dtype=dtype)
    inputs, targets = Task("adding", length=T_TRAIN, channels=M_TRAIN, batch_size=BATCH, dtype=dtype).batch(0)
    models = {"module": net, "checked step": Checked(module(name, {"n": N_TRAIN, "m": M_TRAIN}, outputs=1, dtype=dtype)),
              "per-step transposes": PerStepTransposes(module(name, {"n": N_TRAIN, "m": M_TRAIN}, outputs=1,
                                                              dtype=dtype)),
              "plain": Plain(PLAIN[name], net.values(), net.readout.weight)}
    if name == "gru_torch":
        models["torch.nn.GRU"] = TorchGRU(net)
    with torch.no_grad():  # the same answer before any timing: the comparison is of one computation
        reference = models["plain"](inputs)
        for label, model in models.items():
            tolerance = 1e-4 if dtype == "float32" else 1e-10
            assert torch.allclose(model(inputs), reference, rtol=tolerance, atol=tolerance), label
    return {label: training_step(model, inputs, targets) for label, model in models.items()}

def training_table(repeats: int, quick: bool) -> None:
    names = ("multi_gate", "elman", "gru_torch") if quick else TRAINING_CELLS
    cases = {(name, dtype): training_methods(name, dtype) for name in names for dtype in ("float32", "float64")}
    flat = {(case, label): run for case, runs in cases.items() for label, run in runs.items()}
    times, _ = interleaved(flat, repeats, warmup=3)
    print(f"\ntraining step (forward T={T_TRAIN}, MSE, backward, SGD), N={N_TRAIN}, batch {BATCH}, M={M_TRAIN}; "
          f"{repeats} interleaved repeats, torch {torch.__version__}")
    print(f"{'cell':<12} {'dtype':<8} {'method':<28} {'median ms':>10} {'/ plain':>8}")
    for (name, dtype), runs in cases.items():
        plain = times[(name, dtype), "plain"]
        for label in runs:
            ours = times[(name, dtype), label]
            print(f"{name:<12} {dtype:<8} {label:<28} {1e3 * statistics.median(ours):10.2f} "
                  f"{paired_ratio(ours, plain):8.2f}")
        ratio = paired_ratio(times[(name, dtype), "module"], times[(name, dtype), "per-step transposes"])
        print(f"{name:<12} {dtype:<8} {'module / per-step transposes':<28} {'':>10} {ratio:8.2f}")
        if "torch.nn.GRU" in runs:
            ratio = paired_ratio(times[(name, dtype), "module"], times[(name, dtype), "torch.nn.GRU"])
            print(f"{name:<12} {dtype:<8} {'module / torch.nn.GRU':<28} {'':>10} {ratio:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="repeats of the S1 and S2 tables (default 1)")
    parser.add_argument("--training-repeats", type=int, default=15, help="repeats of the training table")
    parser.add_argument("--quick", action="store_true", help="small sizes, three cells, 3 repeats (a smoke test)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1, see above)")
    parser.add_argument("--tables", default="s1,s2,training",
                        help="comma-separated tables to run among s1, s2, training (default: all three)")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    print(f"torch threads: {torch.get_num_threads()}")
    tables = arguments.tables.split(",")
    if not set(tables) <= {"s1", "s2", "training"}:
        parser.error(f"--tables {arguments.tables!r}: name tables among s1, s2, training")
    with contextlib.redirect_stdout(io.StringIO()):  # warm-up: first calls of torch kernels, vmap, jacrev
        for name, table in (("s1", s1_table), ("s2", s2_table)):
            if name in tables:
                table(1, True)
    if "s1" in tables:
        s1_table(arguments.repeats, arguments.quick)
    if "s2" in tables:
        s2_table(arguments.repeats, arguments.quick)
    if "training" in tables:
        training_table(3 if arguments.quick else arguments.training_repeats, arguments.quick)


if __name__ == "__main__":
    main()
