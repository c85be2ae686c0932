"""Benchmark: one training step of ``numeric.module`` (any cell as a torch module) against a
hand-written plain-torch module of the same cell, and for ``gru_torch`` against ``torch.nn.GRU``.

Run:  .venv/bin/python benchmarks/training.py [--repeats 31] [--threads 1] [--quick]

A training step is what :func:`gatejac.verify._training.train` does per iteration: forward over
the sequence, ŷ = W_o h_T, MSE loss, ``backward``, one ``torch.optim.SGD`` update (μ = 1e-2).
Settings: N = 64, T = 80, batch 64, M = 4 (the adding task of Livi 2025, arXiv:2508.12121,
Section VII, S1), the catalogue cells with their biases, float32 and float64, one thread by
default (the machine is shared; ``--threads`` to change).

Methods, each starting from the same weights and fed the same batch:

* ``module`` — ``numeric.module(cell, sizes, outputs=1)``: the compiled torch step bound once
  and called positionally;
* ``checked step`` — the same loop through the checked ``CompiledCell.step`` (every name, dtype
  and shape validated at every time step): what binding the kernel saves;
* ``plain`` — a hand-written ``torch.nn.Module`` of the same cell (``F.linear`` with the bias
  fused, one line per equation);
* ``torch.nn.GRU`` (gru_torch only) — torch's own fused sequence loop with the same weights.

Timing: in ONE run, every repeat times each method once, in a rotating order (so machine drift
falls on all alike), after 3 warm-up rounds.  The table gives each method's median time and its
ratio to ``plain`` as the median over repeats of the ratio within a repeat (the two ran within
milliseconds of each other, so a load spike of the shared machine moves both; the ratio of the
medians would mix repeats); for gru_torch also the module's ratio to torch.nn.GRU.  The issue
asks ``module / plain`` ≤ 1.3.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from gatejac.numeric._module import module
from gatejac.verify._tasks import Task

N, T, BATCH, M = 64, 80, 64, 4
CELLS = ("leaky", "scalar_gate", "multi_gate", "elman", "gru_torch")


# ------------------------------------------------------------------------------ plain modules
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
        states = {"h": x.new_zeros(x.shape[0], N)}
        for x_t in x.unbind(1):
            states = self.net.compiled.step(states, {"x": x_t}, params)
        return self.net.readout(states["h"])


class TorchGRU(torch.nn.Module):
    """``torch.nn.GRU`` (one layer, batch first) with the module's weights, readout W_o h_T."""

    def __init__(self, net):
        super().__init__()
        cell = net.to_torch()
        self.gru = torch.nn.GRU(M, N, batch_first=True, dtype=cell.weight_hh.dtype)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.gru, f"{name}_l0").copy_(getattr(cell, name))
        self.readout = torch.nn.Parameter(net.readout.weight.detach().clone())

    def forward(self, x):
        return F.linear(self.gru(x)[0][:, -1], self.readout)


# ------------------------------------------------------------------------------ timing
def training_step(model, inputs, targets):
    """One SGD training step of ``model``; returns a closure that runs it."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)

    def run():
        loss = F.mse_loss(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return run


def methods(name: str, dtype: str) -> dict:
    net = module(name, {"n": N, "m": M}, outputs=1, dtype=dtype)
    inputs, targets = Task("adding", length=T, channels=M, batch_size=BATCH, dtype=dtype).batch(0)
    models = {"module": net, "checked step": Checked(module(name, {"n": N, "m": M}, outputs=1, dtype=dtype)),
              "plain": Plain(PLAIN[name], net.values(), net.readout.weight)}
    if name == "gru_torch":
        models["torch.nn.GRU"] = TorchGRU(net)
    with torch.no_grad():  # the same answer before any timing: the comparison is of one computation
        reference = models["plain"](inputs)
        for label, model in models.items():
            tolerance = 1e-4 if dtype == "float32" else 1e-10
            assert torch.allclose(model(inputs), reference, rtol=tolerance, atol=tolerance), label
    return {label: training_step(model, inputs, targets) for label, model in models.items()}


def measure(cases: dict, repeats: int) -> dict:
    """The times (ms) of every method of every case in every repeat, all interleaved in one loop."""
    flat = [(case, label, run) for case, runs in cases.items() for label, run in runs.items()]
    times = {(case, label): [] for case, label, _ in flat}
    for repeat in range(repeats + 3):
        shift = repeat % len(flat)
        for case, label, run in flat[shift:] + flat[:shift]:
            start = time.perf_counter()
            run()
            if repeat >= 3:
                times[case, label].append(1e3 * (time.perf_counter() - start))
    return times


def paired_ratio(numerator: list, denominator: list) -> float:
    """The median over repeats of the ratio of two methods' times in the same repeat."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="multi_gate and elman, 5 repeats")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = ("multi_gate", "elman") if args.quick else CELLS
    repeats = 5 if args.quick else args.repeats
    cases = {(name, dtype): methods(name, dtype) for name in names for dtype in ("float32", "float64")}
    times = measure(cases, repeats)
    print(f"training step (forward T={T}, MSE, backward, SGD), N={N}, batch {BATCH}, M={M}; "
          f"{torch.get_num_threads()} thread(s), {repeats} interleaved repeats, torch {torch.__version__}")
    print(f"{'cell':<12} {'dtype':<8} {'method':<14} {'median ms':>10} {'/ plain':>8}")
    for (name, dtype), runs in cases.items():
        plain = times[(name, dtype), "plain"]
        for label in runs:
            ours = times[(name, dtype), label]
            print(f"{name:<12} {dtype:<8} {label:<14} {statistics.median(ours):10.2f} {paired_ratio(ours, plain):8.2f}")
        if "torch.nn.GRU" in runs:
            ratio = paired_ratio(times[(name, dtype), "module"], times[(name, dtype), "torch.nn.GRU"])
            print(f"{name:<12} {dtype:<8} {'module / torch.nn.GRU':<25} {ratio:8.2f}")

if __name__ == "__main__":
    main()
