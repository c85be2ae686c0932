"""Parameter initialisers (issue 3, item 3): distributions, seeding, dtype/back-end, fixed
parameters, WCRNN residual matrices and errors.

The distribution checks use large samples and honest statistics: an exact bound where the
distribution has one, and a sample moment within five standard errors of its expected value
(a wrong fan-in or scheme is off by many standard errors at these sizes).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

from gatejac import numeric
from gatejac.numeric import initialise
from gatejac.symbolic import Cell, GatejacError, ShapeError, UnknownNameError, cells, tanh
from gatejac.verify._tolerances import tolerance

N_SE = 5  # how many standard errors a sample statistic may be off


def assert_close(actual, reference, oracle: str, what: str) -> None:
    """Entrywise within ``verify._tolerances.tolerance(oracle, float64, max|reference|)``."""
    actual, reference = np.asarray(actual, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    assert actual.shape == reference.shape, f"{what}: shape {actual.shape} vs {reference.shape}"
    allowed = tolerance(oracle, "float64", np.abs(reference).max(initial=0.0)).bound(np.abs(reference))
    error = np.abs(actual - reference)
    assert np.all(error <= allowed), f"{what}: max |error| {error.max():.3g}"


def assert_std(values: np.ndarray, expected_std: float, excess_kurtosis: float, what: str) -> None:
    """Sample standard deviation within N_SE standard errors of ``expected_std``.

    For N samples, SE(s) ≈ σ·sqrt((κ + 2) / (4N)) with κ the excess kurtosis of the
    distribution (0 for a normal, −6/5 for a uniform)."""
    values = np.ravel(values)
    se = expected_std * math.sqrt((excess_kurtosis + 2) / (4 * values.size))
    assert abs(values.std() - expected_std) <= N_SE * se, f"{what}: std {values.std():.5g}, expected {expected_std:.5g}"


def assert_fraction_within_one_std(values: np.ndarray, expected: float, what: str) -> None:
    """The fraction of |v| ≤ σ_sample is within N_SE binomial standard errors of ``expected``
    (0.6827 for a normal, 1/√3 ≈ 0.5774 for a uniform): tells the two shapes apart."""
    values = np.ravel(values)
    fraction = np.mean(np.abs(values) <= values.std())
    se = math.sqrt(expected * (1 - expected) / values.size)
    assert abs(fraction - expected) <= N_SE * se, f"{what}: fraction within 1 std {fraction:.4f}, expected {expected:.4f}"


UNIFORM_KURTOSIS, NORMAL_KURTOSIS = -1.2, 0.0
NORMAL_WITHIN_ONE_STD = math.erf(1 / math.sqrt(2))


# ------------------------------------------------------------------ the schemes
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_torch_scheme_is_uniform_with_the_hidden_size_bound(gain):
    """Every weight and bias of the torch GRU (recurrent n×n, input n×m, biases n) lies in
    [−g/√n, g/√n] with n the hidden size — also the input matrices, whose fan-in is m — and
    fills it uniformly: std g/√(3n), and the extremes close to the bound."""
    n, m = 120, 7
    params = initialise("gru_torch", {"n": n, "m": m}, scheme="torch", gain=gain, seed=3)
    bound = gain / math.sqrt(n)
    for name, value in params.items():
        assert np.abs(value).max() <= bound, f"{name} leaves [-g/sqrt(n), g/sqrt(n)]"
        assert np.abs(value).max() >= bound * (1 - 20 / value.size), f"{name} does not fill the interval"
        assert_std(value, bound / math.sqrt(3), UNIFORM_KURTOSIS, name)
    pooled = np.concatenate([v.ravel() for v in params.values()])
    assert_fraction_within_one_std(pooled, 1 / math.sqrt(3), "torch scheme, all parameters")


def test_torch_scheme_uses_the_state_size_for_both_lstm_states_and_weight_rows():
    """LSTM: h and c share n; scalar gate: the weight rows w_rg (n) and w_ig (m) and the scalar
    bias b_g are all drawn within 1/√n."""
    n = 50
    for name in ("lstm_torch", "scalar_gate"):
        params = initialise(name, {"n": n, "m": 200}, scheme="torch", seed=1)
        for key, value in params.items():
            assert np.abs(value).max() <= 1 / math.sqrt(n), f"{name}.{key}"
    w_ig = initialise("scalar_gate", {"n": n, "m": 4000}, scheme="torch")["w_ig"]
    assert_std(w_ig, 1 / math.sqrt(3 * n), UNIFORM_KURTOSIS, "scalar_gate.w_ig")


@pytest.mark.parametrize("gain", [0.5, 1.5])
def test_gaussian_scheme_has_variance_gain_squared_over_fan_in(gain):
    """Multi-gate cell, n ≠ m: recurrent matrices N(0, g²/n), input matrices N(0, g²/m) (their
    own fan-in), normally shaped; biases zero."""
    n, m = 300, 40
    params = initialise("multi_gate", {"n": n, "m": m}, scheme="gaussian", gain=gain, seed=5)
    for name, fan_in in {"W_rg": n, "W_r": n, "W_ig": m, "W_i": m}.items():
        assert_std(params[name], gain / math.sqrt(fan_in), NORMAL_KURTOSIS, name)
        assert abs(params[name].mean()) <= N_SE * gain / math.sqrt(fan_in * params[name].size), f"{name} mean"
        assert_fraction_within_one_std(params[name], NORMAL_WITHIN_ONE_STD, name)
    assert np.array_equal(params["b"], np.zeros(n)) and np.array_equal(params["b_g"], np.zeros(n))


def test_gaussian_scheme_treats_reduction_vectors_as_weight_rows():
    """Scalar gate: w_rgᵀh and w_igᵀx make w_rg, w_ig weight rows with fan-in n and m; the
    scalar gate bias b_g and the bias b are zero."""
    n, m = 1000, 100
    params = initialise("scalar_gate", {"n": n, "m": m}, scheme="gaussian", gain=2.0)
    assert_std(params["w_rg"], 2.0 / math.sqrt(n), NORMAL_KURTOSIS, "w_rg")
    assert_std(params["w_ig"], 2.0 / math.sqrt(m), NORMAL_KURTOSIS, "w_ig")
    assert params["b_g"].shape == () and params["b_g"] == 0 and not params["b"].any()


def test_normal_scheme_uses_gain_as_the_std_of_every_weight():
    """Livi's appendix check: every weight N(0, 0.2²) whatever its size."""
    n, m = 200, 30
    params = initialise("multi_gate", {"n": n, "m": m}, scheme="normal", gain=0.2, seed=2)
    for name in ("W_rg", "W_ig", "W_r", "W_i"):
        assert_std(params[name], 0.2, NORMAL_KURTOSIS, name)
        assert_fraction_within_one_std(params[name], NORMAL_WITHIN_ONE_STD, name)
    assert not params["b"].any()


# ------------------------------------------------------------------ seeding, dtype, back-end
def test_same_seed_same_values_and_different_seed_different_values():
    sizes = {"n": 6, "m": 4}
    first, again = initialise("lstm_torch", sizes, seed=11), initialise("lstm_torch", sizes, seed=11)
    other = initialise("lstm_torch", sizes, seed=12)
    for name in first:
        assert np.array_equal(first[name], again[name]), name
        assert not np.any(first[name] == other[name]), name


def test_each_parameter_has_its_own_stream():
    """A parameter's values do not depend on the other parameters: with and without bias, and
    with another parameter overridden, W and U stay the same; distinct parameters differ."""
    sizes = {"n": 5, "m": 5}
    with_bias = initialise(cells.get("elman"), sizes, seed=4)
    without = initialise(cells.get("elman", bias=False), sizes, seed=4)
    overridden = initialise("elman", sizes, seed=4, overrides={"W": np.eye(5)})
    assert set(without) == {"W", "U"}
    for name in ("W", "U"):
        assert np.array_equal(with_bias[name], without[name])
    assert np.array_equal(overridden["U"], with_bias["U"]) and np.array_equal(overridden["W"], np.eye(5))
    assert not np.any(with_bias["W"] == with_bias["U"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_and_backend_are_honoured(dtype):
    sizes = {"n": 4, "m": 3}
    as_numpy = initialise("leaky", sizes, dtype=dtype, seed=7)
    as_torch = initialise("leaky", sizes, dtype=dtype, seed=7, backend="torch")
    for name, value in as_numpy.items():
        assert isinstance(value, np.ndarray) and value.dtype == np.dtype(dtype)
        assert isinstance(as_torch[name], torch.Tensor) and as_torch[name].dtype == getattr(torch, dtype)
        assert np.array_equal(as_torch[name].numpy(), value), name
    assert as_numpy["alpha"].shape == ()


def test_initialised_values_run_in_the_compiled_kernels():
    """Every catalogue variant (the WCRNN with its fixed parameters given) initialises to a
    complete parameter set the kernels accept, with a finite step."""
    sizes = {"n": 4, "m": 3}
    for name, options in cells.variants():
        cell = cells.get(name, **options)
        params = initialise(cell, sizes, overrides=_wcrnn_fixed(cell))
        states, inputs, _ = numeric.random_values(cell, sizes, batch=(2,))
        for new in numeric.compile(cell).step(states, inputs, params).values():
            assert np.all(np.isfinite(np.asarray(new))), f"{name} {options}"


def _wcrnn_fixed(cell: Cell) -> dict:
    """The WCRNN's fixed parameters at n = 4 (lam is a scalar or, for a diagonal R, a vector)."""
    lam_shape = numeric.shapes(cell, {"n": 4, "m": 3}).get("lam", ())
    given = {"R": cells.residual_homogeneous(4, 0.9), "lam": np.full(lam_shape, 0.9), "gamma": 0.05}
    return {p.name: given[p.name] for p in cell.parameters if not p.trainable and p.name in given}


# ------------------------------------------------------------------ fixed parameters
def test_leaky_dt_defaults_give_the_leak_of_leaky():
    """leaky_dt's defaults dt and tau give α = Δt/τ equal to leaky's default α: with the same
    weights (same names, same streams) the two cells take the same step."""
    sizes = {"n": 5, "m": 2}
    states, inputs, _ = numeric.random_values(cells.get("leaky"), sizes, batch=(3,))
    steps = [numeric.compile(cells.get(name)).step(states, inputs, initialise(name, sizes, seed=9))["h"]
             for name in ("leaky", "leaky_dt")]
    assert_close(steps[1], steps[0], "reference", "leaky_dt vs leaky step")
    changed = numeric.compile(cells.get("leaky")).step(
        states, inputs, initialise("leaky", sizes, seed=9, overrides={"alpha": 0.3}))["h"]
    assert not np.allclose(changed, steps[0]), "overriding alpha changes the step"


def test_gate_gains_default_to_the_plain_gate():
    """gru_gain with its default unit gains and zero offsets (gaussian scheme) is the Chung GRU
    with zero gate biases: the same weights by name, and the same step."""
    sizes = {"n": 6, "m": 3}
    states, inputs, _ = numeric.random_values(cells.get("gru_chung"), sizes, batch=(4,), seed=1)
    steps = [numeric.compile(cells.get(name)).step(states, inputs, initialise(name, sizes, scheme="gaussian"))["h"]
             for name in ("gru_chung", "gru_gain")]
    assert_close(steps[1], steps[0], "reference", "gru_gain vs gru_chung step")


def test_wcrnn_residual_matrices_come_from_the_sympy_builders():
    """A rotational R from symbolic.cells.residual_rotational arrives as the numeric matrix with
    every eigenvalue of modulus λ; the dense homogeneous R = λI takes the same step as the
    ``residual_matrix="homogeneous"`` cell with lam = λ, and the diagonal variant takes a vector."""
    lam, angles = 0.9, [2 * sympy.pi / 28, sympy.Rational(1, 3)]
    R = cells.residual_rotational(lam, angles)
    params = initialise("wcrnn", {"n": 4, "m": 2}, overrides={"R": R, "gamma": 0.05})
    assert_close(params["R"], np.array(R.evalf(), dtype=float), "reference", "R")
    assert_close(np.abs(np.linalg.eigvals(params["R"])), np.full(4, lam), "reference", "|eig R|")
    assert params["gamma"] == 0.05

    sizes = {"n": 4, "m": 2}
    dense, homogeneous = cells.get("wcrnn"), cells.get("wcrnn", residual_matrix="homogeneous")
    states, inputs, _ = numeric.random_values(dense, sizes, batch=(3,))
    steps = [
        numeric.compile(dense).step(states, inputs, initialise(
            dense, sizes, overrides={"R": cells.residual_homogeneous(4, lam), "gamma": 0.05}))["h"],
        numeric.compile(homogeneous).step(states, inputs, initialise(
            homogeneous, sizes, overrides={"lam": lam, "gamma": 0.05}))["h"],
    ]
    assert_close(steps[1], steps[0], "reference", "homogeneous lam vs dense lam*I")
    diagonal = initialise(cells.get("wcrnn", residual_matrix="diagonal"), sizes,
                          overrides={"lam": np.linspace(0.8, 0.99, 4), "gamma": 0.05})
    assert diagonal["lam"].shape == (4,)


# ------------------------------------------------------------------ errors
def _two_state_sizes() -> Cell:
    cell = Cell("two_sizes")
    h, c = cell.state("h", "n"), cell.state("c", "k")
    W = cell.parameter("W", ("n", "n"))
    w = cell.parameter("w", "k")
    cell.update(h, tanh(W @ h))
    cell.update(c, w * c)
    return cell.validate()


SIZES = {"n": 4, "m": 3}
ERRORS = [
    ("unknown scheme", dict(scheme="gausian"), UnknownNameError, "did you mean 'gaussian'"),
    ("zero gain", dict(gain=0.0), numeric.ArgumentError, r"gain=0\.0 must be a finite number > 0"),
    ("negative gain", dict(gain=-1), numeric.ArgumentError, "gain=-1 must"),
    ("nan gain", dict(gain=float("nan")), numeric.ArgumentError, "gain=nan must"),
    ("inf gain", dict(gain=float("inf")), numeric.ArgumentError, "gain=inf must"),
    ("text gain", dict(gain="1"), numeric.ArgumentError, "gain='1' must"),
    ("negative seed", dict(seed=-1), numeric.ArgumentError, "seed=-1 must be an integer ≥ 0"),
    ("float seed", dict(seed=1.5), numeric.ArgumentError, "seed=1.5 must"),
    ("unknown backend", dict(backend="jax"), UnknownNameError, "unknown backend 'jax'"),
    ("unknown dtype", dict(dtype="float16"), UnknownNameError, "unknown dtype 'float16'.*float32"),
    ("unknown override", dict(overrides={"W_x": 1.0}), UnknownNameError, "parameter 'W_x'; did you mean 'W'"),
    ("override shape", dict(overrides={"W": np.eye(3)}), numeric.ArgumentError,
     r"overrides\['W'\] has shape \(3, 3\) but parameter 'W' .* \(4, 4\)"),
    ("override text", dict(overrides={"alpha": "big"}), numeric.ArgumentError, r"overrides\['alpha'\]='big' is not a real"),
    ("override nan", dict(overrides={"alpha": float("nan")}), numeric.ArgumentError, "non-finite"),
    ("override not a mapping", dict(overrides=[("alpha", 0.5)]), numeric.ArgumentError, "overrides must be a mapping"),
]


@pytest.mark.parametrize(("case", "kwargs", "error", "match"), ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_arguments_raise_clear_errors(case, kwargs, error, match):
    with pytest.raises(error, match=match):
        initialise("leaky", SIZES, **kwargs)


@pytest.mark.parametrize(("cell", "sizes", "kwargs", "error", "match"), [
    ("wcrnn", SIZES, {}, numeric.ArgumentError, r"fixed \(trainable=False\) parameter\(s\) 'R', 'gamma' of cell 'wcrnn'"),
    ("wcrnn", SIZES, {"overrides": {"R": np.eye(4)}}, numeric.ArgumentError, r"parameter\(s\) 'gamma' .*coupling"),
    ("elman", {"n": 4}, {}, ShapeError, r"needs integer sizes for \['m'\]"),
    ("elmann", SIZES, {}, UnknownNameError, "did you mean 'elman'"),
    (42, SIZES, {}, numeric.ArgumentError, "takes a symbolic.Cell or a catalogue name, got int"),
    (_two_state_sizes(), {"n": 3, "k": 2}, {}, numeric.ArgumentError, r"hidden size.*different sizes \[2, 3\]"),
], ids=["wcrnn without R and gamma", "wcrnn without gamma", "missing size", "unknown cell", "not a cell",
        "torch scheme with two state sizes"])
def test_cells_that_cannot_be_initialised_raise_clear_errors(cell, sizes, kwargs, error, match):
    with pytest.raises(error, match=match):
        initialise(cell, sizes, **kwargs)
    assert issubclass(error, GatejacError)


def test_two_state_sizes_work_with_the_gaussian_scheme():
    params = initialise(_two_state_sizes(), {"n": 3, "k": 2}, scheme="gaussian")
    assert params["W"].shape == (3, 3) and not params["w"].any()


def test_a_scalar_parameter_inside_a_reduction_is_a_bias_not_a_weight_row():
    from gatejac.symbolic import Cell

    cell = Cell("scalar_in_reduction")
    h = cell.state("h", "n")
    g = cell.parameter("g")
    cell.update(h, h + (g * h) @ h)
    params = numeric.initialise(cell, {"n": 2}, scheme="gaussian")
    assert params["g"].shape == () and params["g"] == 0.0  # biases start at 0 in the gaussian scheme
