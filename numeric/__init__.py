"""gatejac.numeric — compiled NumPy and torch kernels for cells.

* :func:`compile` → :class:`CompiledCell` with ``step``, ``state_jacobian``,
  ``input_jacobian``, ``parameter_jacobian``, ``jvp`` and ``vjp``; ``.source`` shows the
  generated code, ``kernel(name)`` / ``arguments`` give the raw kernels.
* :func:`arrays` — the one array namespace of a back-end (what the kernels, the trajectories
  and the verify layer's oracles compute with); :func:`arrays_of`, :func:`to_numpy`,
  :func:`convert`; :data:`BACKENDS`, :data:`DTYPES`.
* :func:`initialise` — seeded parameters (schemes torch / gaussian / normal), :func:`fan_ins`;
  :func:`from_torch` / :func:`to_torch` — ``torch.nn.RNNCell`` / ``GRUCell`` / ``LSTMCell`` interop (:func:`module_parameters`: which
  cell parameters each module tensor stacks);
* :func:`rollout` → :class:`Trajectory` — states along an input sequence, step Jacobians,
  transports Φ(t, k) = J_t ⋯ J_{k+1} (prefix/suffix sweeps, lag products), Jacobian actions,
  QR-stabilised Lyapunov exponents and log singular values;
* :func:`shapes`, :func:`random_values` — concrete shapes and seeded values for a cell.
* the first-order gate expansion (docs/theory.md: “The first-order gate expansion”):
  :func:`expansion_factors` → the stacks (A, B); :func:`expand_window` →
  :class:`WindowExpansion` (F(0), L_F(0)[B], c₂ by one forward recurrence);
  :func:`expansion_actions` (the same on an S×k block, factors streamed);
  :func:`window_products` (F(ε) on a grid); :func:`truncation_study` →
  :class:`TruncationStudy` (E_trunc, C₂, the guarded small-ε slope, the remainder bound);
  :func:`gate_ratios` → :class:`GateRatios` (‖A_j‖₂, ‖B_j‖₂, r_j and its statistics);
  :func:`remainder_bound`; :data:`EPS_GRID`; the factor and product functions take ``convention="exact"|"author"``.
* dynamics: :func:`fixed_points` → :class:`FixedPointSearch` (damped Newton, dense or
  Newton–Krylov; ``.unique()`` → :class:`FixedPoints` with ``.stability()``);
  :func:`eigenvalues`, :func:`jacobian_eigenvalues`, :func:`trajectory_eigenvalues`,
  :func:`classify` → :class:`Stability`, :func:`fraction_near`; the random-matrix predictions
  :func:`zero_fixed_point_disk` → :class:`Disk` and :func:`heterogeneous_support` →
  :class:`Support` (Can, Krishnamurthy & Schwab 2020); Lyapunov spectra by QR on Jacobian
  actions :func:`lyapunov_spectrum` → :class:`LyapunovSpectrum` (natural log per step,
  finite-time windows), :func:`log_det_rate` (the sum rule), :func:`lyapunov_dns` (the
  largest exponent from two nearby trajectories), and for the WCRNN (Dubinin & Effenberger
  2024) :func:`first_order_exponents`, :func:`coupling_band`, :func:`criticality`.
* learning-rate and anisotropy analyses (Livi 2025, Section VII): :func:`sensitivities` →
  :class:`Sensitivities` (S_{t,k} = ‖Φ(t, k)‖₂ for every pair, exact, stable at long lags);
  :func:`gate_products` → :class:`Predictor`, :func:`lag_profile`, :func:`fit_slope` →
  :class:`SlopeFit`, :func:`effective_learning_rates` → :class:`EffectiveLR`;
  :func:`spectrum_metrics` → :class:`SpectrumMetrics` (AI, CE by top-k and full energy,
  participation ratio, effective rank), :func:`jacobian_anisotropy` → :class:`JacobianAnisotropy`;
  :func:`per_example_gradients` (``vmap(grad)``), :func:`gradient_directions`,
  :func:`covariance_spectrum`, :func:`covariance_anisotropy`.
* :func:`module` — any cell as a ``torch.nn.Module`` (batch first, the compiled step, a linear
  readout ŷ = W_o h_T; ``torch.nn`` cells load), trained with autograd.
* :class:`ArgumentError`, :class:`CompileError` — errors of this layer (subclasses of
  ``gatejac.symbolic.GatejacError``).

``import gatejac.numeric`` does not import torch; the torch back-end is loaded on first use.
"""

from ._anisotropy import LAGS as ANISOTROPY_LAGS
from ._anisotropy import JacobianAnisotropy, SpectrumMetrics, jacobian_anisotropy, spectrum_metrics
from ._arrays import BACKENDS, DTYPES, arrays, arrays_of, convert, to_numpy
from ._compiled import CACHE_SIZE, TORCH_THROUGH_NUMPY_BELOW, CompiledCell, compile
from ._errors import ArgumentError, CompileError
from ._expansion import WindowExpansion, expand_window, expansion_actions, expansion_factors, window_products
from ._expansion_study import EPS_GRID, GateRatios, TruncationStudy, gate_ratios, remainder_bound, truncation_study
from ._fixed_points import FixedPoints, FixedPointSearch, fixed_points
from ._gradient_covariance import covariance_anisotropy, covariance_spectrum, gradient_directions, per_example_gradients
from ._growth import graded_log_singular_values, qr_log_growth
from ._init import SCHEMES, fan_ins, initialise
from ._interop import from_torch, module_parameters, to_torch
from ._lyapunov import LyapunovSpectrum, log_det_rate, lyapunov_spectrum
from ._lyapunov_dns import lyapunov_dns
from ._lyapunov_residual import coupling_band, criticality, first_order_exponents
from ._module import module
from ._predictions import Disk, Support, heterogeneous_support, zero_fixed_point_disk
from ._products import lag_products, prefix_products, suffix_products
from ._sensitivity import NORMS, Sensitivities, sensitivities
from ._sensitivity_profile import (
    PREDICTORS, EffectiveLR, Predictor, SlopeFit, effective_learning_rates, fit_slope, gate_products, lag_profile,
)
from ._spectra import Stability, classify, eigenvalues, fraction_near, jacobian_eigenvalues, trajectory_eigenvalues
from ._trajectory import Trajectory, rollout
from ._values import random_values, shapes

__all__ = [
    "BACKENDS", "CACHE_SIZE", "DTYPES", "SCHEMES", "ArgumentError", "CompileError", "CompiledCell", "Trajectory", "arrays",
    "arrays_of", "compile", "convert", "fan_ins", "from_torch", "graded_log_singular_values", "initialise",
    "lag_products", "prefix_products", "qr_log_growth", "random_values", "rollout", "shapes", "suffix_products",
    "to_numpy", "to_torch", "module_parameters", "TORCH_THROUGH_NUMPY_BELOW",
    "EPS_GRID", "GateRatios", "TruncationStudy", "WindowExpansion", "expand_window", "expansion_actions",
    "expansion_factors", "gate_ratios", "remainder_bound", "truncation_study", "window_products",
    "Disk", "FixedPointSearch", "FixedPoints", "LyapunovSpectrum", "Stability", "Support", "classify",
    "coupling_band", "criticality", "eigenvalues", "first_order_exponents", "fixed_points", "fraction_near",
    "heterogeneous_support", "jacobian_eigenvalues", "log_det_rate", "lyapunov_dns", "lyapunov_spectrum",
    "trajectory_eigenvalues", "zero_fixed_point_disk", "module",
    "ANISOTROPY_LAGS", "JacobianAnisotropy", "SpectrumMetrics", "jacobian_anisotropy", "spectrum_metrics",
    "covariance_anisotropy", "covariance_spectrum", "gradient_directions", "per_example_gradients",
    "NORMS", "Sensitivities", "sensitivities", "PREDICTORS", "EffectiveLR", "Predictor", "SlopeFit",
    "effective_learning_rates", "fit_slope", "gate_products", "lag_profile",
]
