"""``verify.strategies``: the values it draws are valid, and on them the oracles agree with the
compiled kernels — with zero false alarms — while a deliberately broken Jacobian is caught.

The agreement property (:func:`oracle_failures` over :func:`examples`) is also what
``benchmarks/thorough.py`` runs under the ``thorough`` profile.  One example is a cell, sizes
n, m ∈ {2..6}, a batch of 1–4 samples, a kernel backend and dtype, a point drawn by
``values(...)``, one parameter and a seed for the Taylor direction.  At that point the float64
kernels' state Jacobian and the parameter's Jacobian are compared with each oracle of
``verify._oracles`` (``ad``: torch.func through the step, ``fd``: central differences,
``taylor``: the remainder slope, ``complex_step`` where the cell is analytic) at the tolerances
of ``verify._tolerances``; for a float32 example the float32 kernels are also compared with
the float64 kernels (``reference``).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from gatejac import numeric
from gatejac.numeric import ArgumentError
from gatejac.symbolic import Cell, Instance, ShapeError, SpecError, UnknownNameError, cells, derive
from gatejac.symbolic import sigmoid
from gatejac.verify._comparison import compare
from gatejac.verify._oracles import LeafView, ParameterView, Point, oracles_for, taylor_test
from gatejac.verify._tolerances import tolerance
from gatejac.verify.strategies import (
    DTYPES,
    INPUT_BOUND,
    PROFILES,
    STATE_BOUND,
    dimensions,
    inputs,
    load_profile,
    parameters,
    preactivations,
    states,
    values,
)
from gatejac.verify.strategies import cells as cell_strategies

ORACLES = ("ad", "fd", "taylor", "complex_step")


# =========================================================================== the agreement property
@dataclass(frozen=True)
class Example:
    """One drawn example of the agreement property (values as float64 NumPy arrays, exactly
    representable in ``dtype``)."""

    cell: Cell
    sizes: dict
    backend: str
    dtype: str
    states: dict
    inputs: dict
    params: dict
    parameter: str | None
    seed: int

    def describe(self) -> str:
        return (f"cell {self.cell.name!r} ({self.cell.description}), sizes {self.sizes}, "
                f"batch {next(iter(self.states.values())).shape[:-1]}, {self.backend} {self.dtype}, "
                f"parameter {self.parameter!r}, Taylor seed {self.seed}")


@st.composite
def examples(draw, cell_strategy, *, min_size: int = 2, max_size: int = 6):
    """Examples of the agreement property for cells drawn by ``cell_strategy``."""
    cell = draw(cell_strategy)
    sizes = draw(dimensions(cell, min_size=min_size, max_size=max_size))
    batch = (draw(st.integers(1, 4)),)
    dtype = draw(st.sampled_from(DTYPES))
    backend = draw(st.sampled_from(numeric.BACKENDS))
    point = draw(values(cell, sizes=sizes, batch=batch, dtype=dtype))
    states_, inputs_, params = ({k: v.astype(np.float64) for k, v in group.items()} for group in point)
    names = [p.name for p in cell.parameters]
    parameter = draw(st.sampled_from(names)) if names else None  # a random cell may have no parameter
    seed = draw(st.integers(0, 2**32 - 1))
    return Example(cell, sizes, backend, dtype, states_, inputs_, params, parameter, seed)


def oracle_failures(example: Example, oracles=ORACLES, derivation=None) -> dict[str, list[str]]:
    """``{oracle: [what failed]}`` for every oracle that applies to ``example`` (``complex_step``
    only where the cell is analytic; ``reference`` for float32 examples); an empty list means
    the kernels of ``derivation`` (default: ``derive(cell)``) agree with that oracle."""
    cell, sizes = example.cell, example.sizes
    oracle_set = oracles_for(cell, sizes)
    gates = {}
    if cell.gates:
        named = numeric.compile(cell, "numpy").intermediates(example.states, example.inputs, example.params)
        gates = {g.name: named[g.name] for g in cell.gates}
    point = Point(0, example.seed, example.states, example.inputs, example.params, gates)
    compiled = numeric.compile(cell if derivation is None else derivation, example.backend)
    views = {"state": LeafView(cell, sizes, "states")}
    if example.parameter is not None:
        views[f"parameter:{example.parameter}"] = ParameterView(cell, sizes, example.parameter)
    applicable = [o for o in oracles if oracle_set.skip_reason(o) is None]
    failures: dict[str, list[str]] = {o: [] for o in applicable}
    if example.dtype != "float64":
        failures["reference"] = []
    rng = np.random.default_rng(example.seed)
    for name, view in views.items():
        kernel = _kernel_matrix(compiled, name, point, "float64")
        for oracle in applicable:
            if oracle == "taylor":
                v = view.initial(point)
                direction = rng.standard_normal(v.shape)
                direction /= np.linalg.norm(direction)
                outcome = taylor_test(lambda w, view=view: oracle_set.evaluate(view, point, w), v, kernel, direction,
                                      row_names=view.row_names())
                if not outcome.passed:
                    failures[oracle].append(f"taylor {name}: {outcome.detail}")
                continue
            expected = oracle_set.jacobian(oracle, view, point)
            outcome = compare(kernel, expected, tolerance(oracle, "float64", np.max(np.abs(expected))), 0)
            if not outcome.passed:
                failures[oracle].append(_mismatch(oracle, name, outcome))
        if example.dtype != "float64":
            outcome = compare(_kernel_matrix(compiled, name, point, example.dtype), kernel,
                               tolerance("reference", example.dtype, np.max(np.abs(kernel))), 0)
            if not outcome.passed:
                failures["reference"].append(_mismatch(f"reference ({example.dtype})", name, outcome))
    return failures


def _kernel_matrix(compiled, name: str, point: Point, dtype: str) -> np.ndarray:
    arguments = point.values(compiled.backend, dtype)
    if name == "state":
        matrix = compiled.state_jacobian(*arguments)
    else:
        matrix = compiled.parameter_jacobian(name.split(":", 1)[1], *arguments)
    if hasattr(matrix, "detach"):
        matrix = matrix.detach().numpy()
    return np.asarray(matrix, dtype=np.float64)


def _mismatch(oracle: str, name: str, outcome) -> str:
    if outcome.worst is None:
        return f"{oracle} {name}: {outcome.detail}"
    return (f"{oracle} {name}: entry {outcome.worst} kernel {outcome.actual:.17g} oracle {outcome.expected:.17g} "
            f"error {outcome.max_error:.3g} > tolerance {outcome.tolerance:.3g}")


def agreement_property(cell_strategy, oracles=ORACLES, derivation=None, **overrides):
    """The property "every oracle agrees with the kernels" over ``cell_strategy`` as a
    Hypothesis test function (the loaded profile's settings with ``overrides``, e.g.
    ``max_examples``)."""
    if derivation is not None:
        overrides["database"] = None  # failures of a deliberately broken derivation are not worth replaying

    @settings(**overrides)
    @given(examples(cell_strategy))
    def oracles_agree(example):
        note(example.describe())
        failures = [f for found in oracle_failures(example, oracles, derivation).values() for f in found]
        assert not failures, "\n".join(failures)

    return oracles_agree


EXAMPLES_PER_CELL = max(10, settings().max_examples // 4)
"""Examples per catalogue name: a quarter of the loaded profile's (ci: 25, so 300 in all)."""


@pytest.mark.parametrize("name", cells.names())
def test_every_oracle_agrees_with_the_kernels_on_catalogue_cells(name):
    agreement_property(cell_strategies(catalogue=[name], random=False), max_examples=EXAMPLES_PER_CELL)()


def test_ad_agrees_with_the_kernels_on_random_cells():
    """AD against the kernels of random cells (no shrinking: every shrink step derives and
    compiles a new cell, minutes in all; a failure is reported as found)."""
    agreement_property(cell_strategies(catalogue=False, max_depth=2), ("ad",), max_examples=10,
                       phases=(Phase.explicit, Phase.reuse, Phase.generate))()


def _without_the_gate_term(cell_name: str):
    """``derive(cell)`` with the first gate term of the state Jacobian dropped."""
    derivation = derive(cells.get(cell_name))
    dropped = next(term for _, _, term in derivation.state.terms() if term.gates)
    return derivation.replace(state=derivation.state.select(lambda term: term is not dropped))


@pytest.mark.parametrize("oracle", ORACLES)
def test_the_property_fails_when_a_state_jacobian_term_is_dropped(oracle):
    broken = _without_the_gate_term("multi_gate")
    with pytest.raises(AssertionError, match=rf"{oracle} state"):
        agreement_property(st.just(broken.cell), (oracle,), broken, max_examples=EXAMPLES_PER_CELL)()


def test_the_reference_comparison_catches_a_float32_kernel_that_is_off(monkeypatch):
    """The float32 kernels are compared with the float64 ones: a float32 kernel whose result
    were rounded to float16 (≈ 5e-4 relative) is reported, the real one is not."""
    example = _first_example(cells.get("gru_torch"), "float32")
    assert oracle_failures(example, ("ad",))["reference"] == []
    exact = _kernel_matrix

    def float16_in_float32(compiled, name, point, dtype):
        matrix = exact(compiled, name, point, dtype)
        return matrix if dtype == "float64" else matrix.astype(np.float16).astype(np.float64)

    monkeypatch.setattr(sys.modules[__name__], "_kernel_matrix", float16_in_float32)
    assert any("reference (float32) state" in f for f in oracle_failures(example, ("ad",))["reference"])


def _first_example(cell, dtype: str) -> Example:
    found = []

    @settings(max_examples=1, database=None, derandomize=True)
    @given(examples(st.just(cell)).filter(lambda e: e.dtype == dtype))
    def first(example):
        found.append(example)

    first()
    return found[0]


# =========================================================================== the values are valid
def _numpy(value) -> np.ndarray:
    return value.detach().numpy() if hasattr(value, "detach") else value


def _dtype_name(value) -> str:
    return str(value.dtype).replace("torch.", "")


@given(data=st.data())
def test_values_have_the_shapes_dtype_and_bounds_asked_for(data):
    cell = data.draw(cell_strategies(random=False), label="cell")
    sizes = data.draw(dimensions(cell, min_size=1, max_size=5), label="sizes")
    batch = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2), label="batch"))
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    backend = data.draw(st.sampled_from(numeric.BACKENDS), label="backend")
    point = data.draw(values(cell, sizes=sizes, batch=batch, dtype=dtype, backend=backend), label="values")
    shapes = numeric.shapes(cell, sizes)
    pieces = (cell.states, cell.inputs, cell.parameters)
    for group, declared, leading in zip(point, pieces, (batch, batch, ())):
        assert list(group) == [p.name for p in declared]
        for name, value in group.items():
            assert type(value).__module__.split(".")[0] == ("numpy" if backend == "numpy" else "torch")
            assert _dtype_name(value) == dtype, name
            assert tuple(value.shape) == leading + shapes[name], name
            array = np.asarray(_numpy(value), dtype=np.float64)
            assert np.all(np.isfinite(array)), name
            assert np.all((array == 0) | (np.abs(array) >= np.finfo(dtype).tiny)), f"{name} has subnormal entries"
    for group, bound in ((point[0], STATE_BOUND), (point[1], INPUT_BOUND)):
        for name, value in group.items():
            assert np.all(np.abs(_numpy(value)) <= bound), name


@functools.lru_cache(maxsize=None)
def _activation_arguments(cell, sizes: tuple):
    """A NumPy function of the instance's scalar variables returning the argument of every
    σ and tanh in the cell's explicit update (dense SymPy instance: no compiled kernel,
    named or not), and the instance."""
    instance = Instance(cell, dict(sizes))
    entries = [entry for state in cell.states for entry in instance.update(state.name)]
    arguments = sorted({f.args[0] for e in entries for f in e.atoms(sigmoid, sympy.tanh)}, key=sympy.default_sort_key)
    numpy_sigmoid = {"sigmoid": lambda x: 1 / (1 + np.exp(-x))}
    return sympy.lambdify(instance.all_variables(), arguments, modules=[numpy_sigmoid, "numpy"]), instance


def _independent_preactivations(cell, sizes, point) -> np.ndarray:
    function, instance = _activation_arguments(cell, tuple(sorted(sizes.items())))
    states_, inputs_, params = ({k: np.asarray(_numpy(v), dtype=np.float64) for k, v in g.items()} for g in point)
    batch = next(iter(states_.values())).shape[:-1]
    found = []
    for sample in np.ndindex(*batch):
        per_sample = {k: v[sample] for k, v in (*states_.items(), *inputs_.items())}
        per_piece = {**per_sample, **params}
        by_symbol = {}
        for name, value in per_piece.items():
            by_symbol.update(zip(instance.variables(name), np.ravel(value)))
        found += function(*(by_symbol[s] for s in instance.all_variables()))
    return np.asarray(found, dtype=np.float64)


@pytest.mark.parametrize("bound", [6.0, 1.5])
@given(data=st.data())
def test_every_sigmoid_and_tanh_argument_stays_within_the_bound(bound, data):
    """Checked on the dense SymPy instance (every σ and tanh of the explicit update, named or
    not), not with the kernels the strategy filters by; the tight bound 1.5 makes the filter work."""
    cell = data.draw(cell_strategies(random=False), label="cell")
    sizes = data.draw(dimensions(cell, min_size=1, max_size=3), label="sizes")
    point = data.draw(values(cell, sizes=sizes, batch=(2,), max_preactivation=bound), label="values")
    arguments = _independent_preactivations(cell, sizes, point)
    slack = tolerance("reference", "float64", bound).bound(bound)
    assert np.max(np.abs(arguments)) <= bound + slack
    new = numeric.compile(cell, "numpy").step(*point)
    assert all(np.all(np.isfinite(v)) for v in new.values())


def test_preactivations_recover_the_arguments_of_named_gates():
    cell = cells.get("multi_gate")
    point = _first_example(cell, "float64")
    found = preactivations(cell, point.states, point.inputs, point.params)
    np.testing.assert_allclose(found["g"], found["a_g"], rtol=tolerance("reference", "float64", 1).rtol,
                               atol=tolerance("reference", "float64", np.max(np.abs(found["a_g"]))).atol)


@given(data=st.data())
@settings(max_examples=10)
def test_random_cells_get_finite_values(data):
    cell = data.draw(cell_strategies(catalogue=False, max_depth=2), label="cell")
    sizes = data.draw(dimensions(cell), label="sizes")
    point = data.draw(values(cell, sizes=sizes, batch=(2,)), label="values")
    new = numeric.compile(cell, "numpy").step(*point)
    assert all(np.all(np.isfinite(v)) for v in new.values())


FIXED_RANGES = {
    ("leaky", "alpha"): (0.0, 1.0),
    ("wcrnn", "gamma"): (0.0, 1.0),
    ("gru_gain", "alpha_z"): (0.0, 1.0),
    ("lstm_gain", "alpha_o"): (0.0, 1.0),
}


@given(data=st.data())
def test_fixed_parameters_are_in_their_valid_ranges(data):
    cell = data.draw(st.sampled_from([cells.get(n) for n in ("leaky", "leaky_dt", "wcrnn", "gru_gain", "lstm_gain")]))
    params = data.draw(parameters(cell, sizes={"n": 4, "m": 2}))
    for (name, parameter), (low, high) in FIXED_RANGES.items():
        if name == cell.name:
            assert low < params[parameter] <= high, parameter
    if cell.name == "leaky_dt":
        assert 0 < params["dt"] / params["tau"] <= 1, "the leak dt/tau"
    if cell.name == "wcrnn":
        assert np.max(np.abs(np.linalg.eigvals(params["R"]))) < 1, "the residual R is sub-critical"


@pytest.mark.parametrize("gain", [0.5, 1.2])
def test_weights_have_the_gain_over_the_square_root_of_the_fan_in(gain):
    """The sample standard deviation of √fan_in·W/g is 1 within five standard errors
    (1/√(2N) for N entries)."""
    cell = cells.get("elman")
    params = _first_draw(parameters(cell, sizes={"n": 300, "m": 40}, min_gain=gain, max_gain=gain))
    for name, fan_in in (("W", 300), ("U", 40)):
        scaled = params[name] * np.sqrt(fan_in) / gain
        assert abs(np.std(scaled) - 1) <= 5 / np.sqrt(2 * scaled.size), name


def _first_draw(strategy):
    found = []

    @settings(max_examples=1, database=None, derandomize=True)
    @given(strategy)
    def first(value):
        found.append(value)

    first()
    return found[0]


@given(data=st.data())
def test_states_and_inputs_alone_have_their_shapes_and_width(data):
    cell = data.draw(cell_strategies(random=False), label="cell")
    dtype = data.draw(st.sampled_from(DTYPES))
    sizes = data.draw(dimensions(cell))
    drawn = {"states": data.draw(states(cell, sizes=sizes, batch=(3,), dtype=dtype, backend="torch")),
             "inputs": data.draw(inputs(cell, sizes=sizes, batch=(3,), dtype=dtype, backend="torch"))}
    shapes = numeric.shapes(cell, sizes)
    for group, declared in (("states", cell.states), ("inputs", cell.inputs)):
        assert list(drawn[group]) == [p.name for p in declared]
        for name, value in drawn[group].items():
            assert tuple(value.shape) == (3,) + shapes[name] and _dtype_name(value) == dtype
            assert np.all(np.abs(value.numpy()) <= 1)


def test_cells_draw_every_catalogue_variant_and_random_cells():
    drawn = []

    @settings(max_examples=300, database=None, derandomize=True)
    @given(cell_strategies(random=False), cell_strategies(max_depth=1))
    def collect(catalogue_cell, any_cell):
        drawn.append((catalogue_cell, any_cell))

    collect()
    variants = {cells.get(name, **options).description for name, options in cells.variants()}
    assert len(variants) == len(cells.variants()), "variants are told apart by their descriptions"
    assert {catalogue_cell.description for catalogue_cell, _ in drawn} == variants
    kinds = {"catalogue" if any_cell.name in cells.names() else any_cell.name for _, any_cell in drawn}
    assert kinds == {"catalogue", "random"}


# =========================================================================== option errors
LEAKY, SIZES = cells.get("leaky"), {"n": 3, "m": 2}
BAD_OPTIONS = [
    (lambda: cell_strategies(catalogue=False, random=False), SpecError, r"draws nothing"),
    (lambda: cell_strategies(catalogue=["gru"]), UnknownNameError, r"unknown cell 'gru'; did you mean"),
    (lambda: cell_strategies(catalogue=7), SpecError, r"catalogue=7\): give True, False or a list"),
    (lambda: cell_strategies(random=False, max_depth=2), SpecError, r"max_depth=\.\.\.\): options of random cells"),
    (lambda: cell_strategies(random="yes"), SpecError, r"random='yes'\): random must be True or False"),
    (lambda: dimensions("leaky"), SpecError, r"dimensions\(\) takes a symbolic.Cell, got str"),
    (lambda: dimensions(LEAKY, min_size=0), SpecError, r"dimensions\(min_size=0\): min_size must be an integer >= 1"),
    (lambda: dimensions(LEAKY, min_size=4, max_size=3), SpecError,
     r"dimensions\(max_size=3\): max_size must be an integer >= 4"),
    (lambda: parameters(LEAKY, sizes={"n": 3}), ShapeError, r"needs integer sizes for \['m'\]"),
    (lambda: parameters(LEAKY, sizes={**SIZES, "q": 1}), UnknownNameError, r"unknown size 'q'"),
    (lambda: parameters(LEAKY, sizes={"n": 0, "m": 2}), ArgumentError, r"size n=0 must be a positive integer"),
    (lambda: parameters(LEAKY, sizes=[3, 2]), ShapeError, r"parameters\(sizes=...\): sizes=\[3, 2\]; give a mapping"),
    (lambda: parameters(LEAKY, sizes=SIZES, min_gain=-1.0), SpecError, r"min_gain=-1.0\): give a finite number > 0"),
    (lambda: values(LEAKY, sizes=SIZES, min_gain=2.0), SpecError, r"min_gain must not exceed max_gain"),
    (lambda: values(LEAKY, sizes=dimensions(LEAKY)), ShapeError, r"to draw sizes, draw them first"),
    (lambda: states(LEAKY, sizes=SIZES, batch=st.just((2,))), ShapeError, r"states\(batch=.*give a tuple"),
    (lambda: parameters(LEAKY, sizes=SIZES, dtype="float16"), UnknownNameError, r"unknown dtype 'float16'"),
    (lambda: states(LEAKY, sizes=SIZES, backend="jax"), UnknownNameError, r"unknown backend 'jax'"),
    (lambda: inputs(LEAKY, sizes=SIZES, batch=(-1,)), ShapeError, r"inputs\(batch=\(-1,\)\): give a tuple of non-negative"),
    (lambda: values(LEAKY, sizes=SIZES, max_preactivation=0), SpecError, r"max_preactivation=0\): give a number > 0"),
    (lambda: load_profile({"HYPOTHESIS_PROFILE": "thorogh"}), UnknownNameError,
     r"unknown Hypothesis profile 'thorogh'; did you mean 'gatejac-thorough'"),
    (lambda: load_profile({"HYPOTHESIS_PROFILE": "ci"}), UnknownNameError, r"did you mean 'gatejac-ci'"),
]


@pytest.mark.parametrize("build, error, message", BAD_OPTIONS)
def test_bad_options_raise_clear_errors(build, error, message):
    with pytest.raises(error, match=message):
        build()


# =========================================================================== profiles
@pytest.fixture
def restore_profile():
    yield
    load_profile()  # the profile of this run again (as conftest loaded it)


@pytest.mark.parametrize("environ, expected", [
    ({}, "gatejac-dev"),
    ({"CI": "true"}, "gatejac-ci"),
    ({"CI": "true", "HYPOTHESIS_PROFILE": "gatejac-thorough"}, "gatejac-thorough"),
    ({"HYPOTHESIS_PROFILE": "gatejac-ci"}, "gatejac-ci"),
])
def test_load_profile_picks_the_profile_from_the_environment(environ, expected, restore_profile):
    assert load_profile(environ) == expected
    assert settings().max_examples == settings.get_profile(expected).max_examples
    assert settings().derandomize == (expected == "gatejac-ci")


def test_profiles_are_registered_under_names_of_their_own():
    """gatejac's profiles do not replace Hypothesis's built-in ``ci`` (nor a user's)."""
    assert PROFILES == ("gatejac-dev", "gatejac-ci", "gatejac-thorough")
    ci, thorough = settings.get_profile("gatejac-ci"), settings.get_profile("gatejac-thorough")
    assert ci.derandomize and ci.print_blob and ci.deadline is None
    assert thorough.max_examples >= 10_000 and thorough.print_blob and thorough.deadline is None
    assert not settings.get_profile("gatejac-dev").derandomize
    assert all(HealthCheck.too_slow in settings.get_profile(p).suppress_health_check for p in PROFILES)


def test_importing_the_strategies_leaves_hypothesis_own_ci_profile_alone():
    script = ("from hypothesis import settings; before = repr(settings.get_profile('ci')); "
              "import gatejac.verify.strategies; print(before == repr(settings.get_profile('ci')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True", done.stderr


def test_this_run_loaded_the_profile_the_environment_asks_for():
    expected = os.environ.get("HYPOTHESIS_PROFILE") or (
        "gatejac-ci" if os.environ.get("CI", "").lower() == "true" else "gatejac-dev")
    assert settings().max_examples == settings.get_profile(expected).max_examples
    assert settings().derandomize == settings.get_profile(expected).derandomize
