"""Update anisotropy: per-example gradients and the anisotropy of their direction covariance
(Livi 2025, arXiv:2508.12121, Section VII-B, experiment S2).

* :func:`per_example_gradients` — g_m = ∇_θ ℓ(f_θ(x_m), y_m) for every example m at once,
  by ``torch.func``: ``vmap(grad(loss))`` over the examples with the module's parameters
  passed through ``functional_call`` (no loop of backward passes); each row is flattened over
  ALL trainable parameters (readout included), in the order of ``module.named_parameters()``,
  each tensor row-major (as ``torch.flatten``).
* :func:`gradient_directions` — the normalisation of the paper's code:
  1. unit rows  g_m ← g_m / (‖g_m‖ + 10⁻¹²)  (direction only);
  2. centred columns (the column mean over the M rows subtracted);
  3. columns with norm ≤ 10⁻¹⁰·√M dropped (all kept if that would drop every one);
  4. Gaussian jitter 10⁻⁸·N(0, 1) added, drawn from ``numpy.random.default_rng(seed)``.
* :func:`covariance_anisotropy` — :func:`spectrum_metrics` of the result G (M × P) by one of two
  routes that agree: ``"svd"`` — the singular values s_i of G, with the paper's guard
  10⁻¹² in AI = s₁/(s_r + 10⁻¹²) and CE = Σ_{i≤r} s_i² / (Σ_i s_i² + 10⁻¹²);
  ``"eigh"`` — the eigenvalues λ_i = s_i²/M of the covariance C = GᵀG/M (formed as the
  M × M matrix GGᵀ/M when M < P: the same non-zero eigenvalues), negative round-off clipped
  to 0, with no guard: AI = √(λ₁/λ_r), CE = Σ_{i≤r} λ_i / Σ_i λ_i.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._anisotropy import SpectrumMetrics, spectrum_metrics
from ._arrays import to_numpy
from ._errors import ArgumentError, check_integer, is_real

ROUTES = ("svd", "eigh")
ROW_GUARD = 1e-12
DROP = 1e-10
JITTER = 1e-8


def per_example_gradients(module, loss: Callable, inputs, targets, *, batch_axis: int = 0,
                          chunk_size: int | None = None):
    """The per-example gradients ``(M, P)`` (a tensor in the parameters' dtype) of
    ``loss(module(x_m), y_m)`` for the M examples of ``inputs`` (examples along
    ``batch_axis``; each is passed to the module as a batch of one, with that axis kept) and
    ``targets`` (examples along axis 0, each passed with a leading axis of one).  ``loss``
    returns a scalar, e.g. ``torch.nn.functional.mse_loss``; ``chunk_size`` bounds how many
    examples ``vmap`` evaluates at once (memory)."""
    import torch
    from torch.func import functional_call, grad, vmap

    if not isinstance(module, torch.nn.Module):
        raise ArgumentError(f"per_example_gradients() takes a torch.nn.Module, got {type(module).__name__}")
    if not callable(loss):
        raise ArgumentError(f"loss must be a callable loss(output, target) -> scalar, got {type(loss).__name__}")
    if not (torch.is_tensor(inputs) and torch.is_tensor(targets)):
        raise ArgumentError("inputs and targets must be torch tensors, got "
                            f"{type(inputs).__name__} and {type(targets).__name__}")
    check_integer("batch_axis", batch_axis, 0, inputs.ndim - 1)
    if int(inputs.shape[batch_axis]) != int(targets.shape[0]):
        raise ArgumentError(f"inputs has {int(inputs.shape[batch_axis])} examples along batch_axis={batch_axis} but "
                            f"targets has {int(targets.shape[0])} along axis 0; give one target per example")
    if chunk_size is not None:
        check_integer("chunk_size", chunk_size, 1, None)
    params = {name: value.detach() for name, value in module.named_parameters() if value.requires_grad}
    if not params:
        raise ArgumentError("the module has no trainable parameters (requires_grad=True); nothing to differentiate")
    buffers = dict(module.named_buffers())

    def one_example(weights, example, target):
        output = functional_call(module, (weights, buffers), (example.unsqueeze(batch_axis),))
        return loss(output, target.unsqueeze(0))

    gradients = vmap(grad(one_example), in_dims=(None, batch_axis, 0), chunk_size=chunk_size)(params, inputs, targets)
    count = int(targets.shape[0])
    return torch.cat([gradients[name].reshape(count, -1) for name in params], dim=1)


def gradient_directions(gradients, *, jitter: float = JITTER, seed: int = 0) -> np.ndarray:
    """G ``(M, P')`` float64 from raw per-example gradients ``(M, P)`` (NumPy or torch): unit
    rows, centred columns, near-constant columns dropped, seeded jitter (module docstring)."""
    rows = np.asarray(to_numpy(gradients.detach() if hasattr(gradients, "detach") else gradients), dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] < 2 or rows.shape[1] < 1:
        raise ArgumentError(f"gradients has shape {rows.shape}; pass (M, P) with M ≥ 2 examples and P ≥ 1 "
                            "parameters")
    if not np.all(np.isfinite(rows)):
        raise ArgumentError("gradients has non-finite entries (inf or nan); check the loss and the model's outputs")
    if not (is_real(jitter) and jitter >= 0):
        raise ArgumentError(f"jitter={jitter!r} must be a number ≥ 0 (1e-8 as the paper's code; 0 for none)")
    check_integer("seed", seed, 0, None)
    rows = rows / (np.linalg.norm(rows, axis=1, keepdims=True) + ROW_GUARD)
    rows = rows - rows.mean(axis=0, keepdims=True)
    keep = np.linalg.norm(rows, axis=0) > DROP * math.sqrt(rows.shape[0])
    if keep.any():
        rows = rows[:, keep]
    return rows + jitter * np.random.default_rng(seed).standard_normal(rows.shape)


def covariance_spectrum(directions, route: str = "svd") -> np.ndarray:
    """The spectrum the ``route`` works with, descending: the singular values s_i of G
    (``"svd"``) or the eigenvalues λ_i = s_i²/M of GᵀG/M (``"eigh"``), min(M, P) of them."""
    if route not in ROUTES:
        raise ArgumentError(f"route={route!r} is not one of {list(ROUTES)}: 'svd' (singular values of G) or 'eigh' "
                            "(eigenvalues of the covariance GᵀG/M)")
    G = np.asarray(to_numpy(directions), dtype=np.float64)
    if G.ndim != 2:
        raise ArgumentError(f"directions has shape {G.shape}; pass the (M, P) matrix of gradient_directions()")
    count = G.shape[0]
    if route == "svd":
        return np.linalg.svd(G, compute_uv=False)
    covariance = (G.T @ G if G.shape[1] <= count else G @ G.T) / count
    return np.clip(np.linalg.eigvalsh(covariance)[::-1], 0.0, None)


def covariance_anisotropy(directions, r: int = 10, k: int = 16, route: str = "svd") -> SpectrumMetrics:
    """The anisotropy metrics of the direction covariance of G (:func:`gradient_directions`)
    by ``route`` (module docstring); ``ce_full`` is the paper's CE, ``ce_top`` the same
    normalised by the top-k energy."""
    spectrum = covariance_spectrum(directions, route)
    if route == "svd":
        return spectrum_metrics(spectrum, r, k)
    return spectrum_metrics(np.sqrt(spectrum), r, k, guard=0.0)
