"""Every mistake in calling the numeric layer raises a clear gatejac error.

One table row per mistake: a function that makes it, the ``GatejacError`` subclass it must
raise, and a regex the message must match — the offending argument (``states['h']``,
``params['W']`` ...) and the value or size given.  Value mistakes are made against the
``leaky`` cell (state h of size n, input x of size m, parameters alpha (scalar), W (n, n),
U (n, m), b (n)) on both back-ends.

"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from gatejac import numeric
from gatejac.numeric import ArgumentError, CompileError
from gatejac.symbolic import Cell, GatejacError, UnknownNameError, cells, tanh

SIZES = {"n": 3, "m": 2}
CELL = cells.get("leaky")


@dataclass
class _Call:
    """Valid values for ``CELL`` on one back-end, and ways to spoil them."""

    backend: str

    def __post_init__(self):
        self.kernels = numeric.compile(CELL, self.backend)
        self.states, self.inputs, self.params = numeric.random_values(CELL, SIZES, batch=(2,), backend=self.backend)

    def array(self, *shape, dtype="float64"):
        """Zeros of ``shape`` in this back-end."""
        if self.backend == "numpy":
            return np.zeros(shape, dtype=dtype)
        return torch.zeros(shape, dtype=getattr(torch, dtype))

    def foreign(self, *shape):
        """Zeros of ``shape`` in the *other* back-end."""
        return torch.zeros(shape, dtype=torch.float64) if self.backend == "numpy" else np.zeros(shape)

    def values(self, states=None, inputs=None, params=None, drop=()):
        """``(states, inputs, params)`` with some entries replaced and the names in ``drop`` removed."""
        groups = [{**self.states, **(states or {})}, {**self.inputs, **(inputs or {})},
                  {**self.params, **(params or {})}]
        return tuple({k: v for k, v in group.items() if k not in drop} for group in groups)

    def cast(self, values: dict, dtype: str) -> dict:
        if self.backend == "numpy":
            return {k: v.astype(dtype) for k, v in values.items()}
        return {k: v.to(getattr(torch, dtype)) for k, v in values.items()}


def _row(name: str, make_mistake, error: type, match: str):
    """A table row: the mistake, the error class and a pattern the message must match."""
    return pytest.param(make_mistake, error, match, id=name)


_VALUE_MISTAKES = [
    # ---- shapes
    _row("state_size", lambda c: c.kernels.state_jacobian(*c.values(states={"h": c.array(2, 4)})),
         ArgumentError, r"n = 4 from states\['h'\]"),
    _row("state_0d", lambda c: c.kernels.step(*c.values(states={"h": c.array()})),
         ArgumentError, r"states\['h'\] is 0-dimensional.*\(\.\.\., n\)"),
    _row("matrix_shape", lambda c: c.kernels.state_jacobian(*c.values(params={"W": c.array(3, 4)})),
         ArgumentError, r"params\['W'\].*: size n = 4"),
    _row("matrix_ndim", lambda c: c.kernels.state_jacobian(*c.values(params={"W": c.array(3)})),
         ArgumentError, r"params\['W'\] has shape \(3,\); matrix parameter W needs 2 dimensions"),
    _row("vector_parameter_batched", lambda c: c.kernels.step(*c.values(params={"b": c.array(2, 3)})),
         ArgumentError, r"params\['b'\] has shape \(2, 3\); vector parameter b needs shape \(n,\)"),
    _row("scalar_parameter_shape", lambda c: c.kernels.step(*c.values(params={"alpha": c.array(3)})),
         ArgumentError, r"params\['alpha'\] has shape \(3,\); scalar parameter alpha needs shape \(\)"),
    _row("inconsistent_n", lambda c: c.kernels.step(*c.values(params={"b": c.array(4)})),
         ArgumentError, r"params\['b'\].*: size n = 4 here but n = 3 from states\['h'\]"),
    _row("inconsistent_m", lambda c: c.kernels.step(*c.values(inputs={"x": c.array(2, 3)})),
         ArgumentError, r"params\['U'\].*: size m = 2 here but m = 3 from inputs\['x'\]"),
    _row("batch_shapes_do_not_broadcast", lambda c: c.kernels.step(*c.values(inputs={"x": c.array(5, 2)})),
         ArgumentError, r"inputs\['x'\].*\(5,\).*\(2,\)"),
    _row("tangent_shape", lambda c: c.kernels.jvp(*c.values(), tangents={"h": c.array(2, 4)}),
         ArgumentError, r"tangents\['h'\].*\(2, 4\)"),
    _row("cotangent_shape", lambda c: c.kernels.vjp(*c.values(), cotangents={"h": c.array(2, 4)}),
         ArgumentError, r"cotangents\['h'\].*\(2, 4\)"),
    _row("out_shape", lambda c: c.kernels.state_jacobian(*c.values(), out=c.array(2, 4, 4)),
         ArgumentError, r"out.*\(2, 4, 4\).*\(2, 3, 3\)"),
    # ---- names
    _row("missing_parameter", lambda c: c.kernels.step(*c.values(drop=("W",))),
         ArgumentError, r"params: missing 'W' for cell 'leaky'"),
    _row("missing_state", lambda c: c.kernels.state_jacobian(*c.values(drop=("h",))),
         ArgumentError, r"states: missing 'h'"),
    _row("unknown_key", lambda c: c.kernels.step(*c.values(params={"Ww": c.params["W"]})),
         UnknownNameError, r"unknown param 'Ww'; did you mean 'W'\?"),
    _row("state_passed_as_input", lambda c: c.kernels.step(*c.values(inputs={"h": c.states["h"]})),
         UnknownNameError, r"unknown input 'h'.*passed in inputs"),
    _row("not_a_mapping", lambda c: c.kernels.step([c.states["h"]], c.inputs, c.params),
         ArgumentError, r"states must be a mapping .* got list"),
    _row("unknown_parameter_jacobian", lambda c: c.kernels.parameter_jacobian("WW", *c.values()),
         UnknownNameError, r"unknown parameter 'WW'; did you mean 'W'\?"),
    _row("unknown_tangent", lambda c: c.kernels.jvp(*c.values(), tangents={"hh": c.states["h"]}),
         UnknownNameError, r"unknown tangent 'hh'; did you mean 'h'\?"),
    _row("cotangent_of_an_input", lambda c: c.kernels.vjp(*c.values(), cotangents={"x": c.inputs["x"]}),
         UnknownNameError, r"unknown cotangent 'x'\. Known cotangents: h"),
    _row("unknown_override", lambda c: c.kernels.step(*c.values(), override={"aa": c.states["h"]}),
         UnknownNameError, r"unknown override 'aa'; did you mean 'a'\?"),
    # ---- dtypes and back-ends
    _row("mixed_dtypes",
         lambda c: c.kernels.state_jacobian(c.cast(c.states, "float32"), c.cast(c.inputs, "float32"), c.params),
         ArgumentError, r"params\['alpha'\] has dtype (torch\.)?float64 but earlier values have (torch\.)?float32"),
    _row("integer_dtype", lambda c: c.kernels.step(*c.values(states={"h": c.array(2, 3, dtype="int64")})),
         ArgumentError, r"states\['h'\] has dtype (torch\.)?int64; use (torch\.)?float32 or (torch\.)?float64"),
    _row("other_backend_array", lambda c: c.kernels.step(*c.values(params={"W": c.foreign(3, 3)})),
         ArgumentError, r"params\['W'\] is a (ndarray|Tensor); the (numpy|torch) backend takes"),
    _row("list_instead_of_array", lambda c: c.kernels.step(*c.values(states={"h": [0.0, 1.0, 2.0]})),
         ArgumentError, r"states\['h'\] is a list"),
    _row("tangent_other_backend", lambda c: c.kernels.jvp(*c.values(), tangents={"W": c.foreign(3, 3)}),
         ArgumentError, r"tangents\['W'\] is a (ndarray|Tensor)"),
    _row("tangent_dtype", lambda c: c.kernels.jvp(*c.values(), tangents={"h": c.array(2, 3, dtype="float32")}),
         ArgumentError, r"tangents\['h'\] has dtype (torch\.)?float32"),
    _row("cotangent_dtype", lambda c: c.kernels.vjp(*c.values(), cotangents={"h": c.array(2, 3, dtype="float32")}),
         ArgumentError, r"cotangents\['h'\] has dtype (torch\.)?float32"),
    _row("out_dtype", lambda c: c.kernels.state_jacobian(*c.values(), out=c.array(2, 3, 3, dtype="float32")),
         ArgumentError, r"out.*float32"),
    # ---- batch shapes of tangents and cotangents (checked before the kernel broadcasts them)
    _row("tangent_batch", lambda c: c.kernels.jvp(*c.values(), tangents={"h": c.array(5, 3)}),
         ArgumentError, r"tangents\['h'\] has batch shape \(5,\).*\(2,\) of the values"),
    _row("input_tangent_batch", lambda c: c.kernels.jvp(*c.values(), tangents={"x": c.array(3, 2)}),
         ArgumentError, r"tangents\['x'\] has batch shape \(3,\)"),
    _row("cotangent_batch", lambda c: c.kernels.vjp(*c.values(), cotangents={"h": c.array(3, 3)}),
         ArgumentError, r"cotangents\['h'\] has batch shape \(3,\)"),
    # ---- scalar parameters: numbers, not bools
    _row("scalar_parameter_bool", lambda c: c.kernels.step(*c.values(params={"alpha": True})),
         ArgumentError, r"params\['alpha'\] is the bool True; scalar parameter alpha takes a real number"),
    _row("scalar_parameter_numpy_bool", lambda c: c.kernels.step(*c.values(params={"alpha": np.bool_(True)})),
         ArgumentError, r"params\['alpha'\] is the bool True"),
]


@pytest.mark.parametrize("backend", numeric.BACKENDS)
@pytest.mark.parametrize("make_mistake, error, match", _VALUE_MISTAKES)
def test_argument_mistakes_raise_clear_errors(make_mistake, error, match, backend):
    assert issubclass(error, GatejacError)
    with pytest.raises(error, match=match):
        make_mistake(_Call(backend))


def test_a_read_only_out_is_refused_before_the_kernel_writes():
    call = _Call("numpy")
    out = np.zeros((2, 3, 3))
    out.flags.writeable = False
    with pytest.raises(ArgumentError, match=r"out is read-only.*writable array"):
        call.kernels.state_jacobian(*call.values(), out=out)


@pytest.mark.parametrize("backend", numeric.BACKENDS)
def test_tangents_whose_batch_broadcasts_with_the_values_are_accepted(backend):
    """A tangent batch that broadcasts with the values' (here (3, 2) against (2,)) is the
    trajectories' column-batch form: it must not be refused by the batch check."""
    call = _Call(backend)
    stacked = call.array(3, 2, 3) + 1
    result = call.kernels.jvp(*call.values(), tangents={"h": stacked})
    single = call.kernels.jvp(*call.values(), tangents={"h": stacked[0]})
    assert tuple(result["h"].shape) == (3, 2, 3)
    np.testing.assert_allclose(np.asarray(result["h"][1]), np.asarray(single["h"]), rtol=1e-14)


def test_values_on_different_devices_are_refused():
    call = _Call("torch")
    on_meta = torch.zeros(3, 3, dtype=torch.float64, device="meta")
    with pytest.raises(ArgumentError, match=r"params\['W'\] is on meta but earlier values are on cpu"):
        call.kernels.step(*call.values(params={"W": on_meta}))


def _input_free_cell() -> Cell:
    """h' = tanh(W h): a cell with no inputs."""
    cell = Cell("autonomous")
    h = cell.state("h", "n")
    W = cell.parameter("W", ("n", "n"))
    cell.update(h, tanh(W @ h))
    return cell


def _input_jacobian_without_inputs():
    cell = _input_free_cell()
    states, inputs, params = numeric.random_values(cell, {"n": 3})
    numeric.compile(cell).input_jacobian(states, inputs, params)


_COMPILE_MISTAKES = [
    _row("unknown_backend", lambda: numeric.compile(CELL, "tourch"),
         UnknownNameError, r"unknown backend 'tourch'; did you mean 'torch'\?"),
    _row("backend_case", lambda: numeric.compile(CELL, "NumPy"),
         UnknownNameError, r"unknown backend 'NumPy'.*Known backends: numpy, torch"),
    _row("not_a_cell", lambda: numeric.compile("leaky"),
         CompileError, r"compile\(\) takes a symbolic\.Cell or symbolic\.Derivation, got str"),
    _row("input_jacobian_without_inputs", _input_jacobian_without_inputs,
         ArgumentError, r"cell 'autonomous' has no inputs"),
]


@pytest.mark.parametrize("make_mistake, error, match", _COMPILE_MISTAKES)
def test_compile_mistakes_raise_clear_errors(make_mistake, error, match):
    assert issubclass(error, GatejacError)
    with pytest.raises(error, match=match):
        make_mistake()


def test_generation_refuses_a_symbol_that_is_not_an_argument():
    """A (hand-modified) derivation whose term reads an undeclared symbol is refused at compile time."""
    import dataclasses

    import sympy

    from gatejac import symbolic
    derivation = symbolic.derive(cells.get("leaky"))
    block = derivation.state[("h", "h")]
    stray = dataclasses.replace(block.terms[0], factors=(symbolic.Diag(sympy.Symbol("zeta"), sympy.Symbol("n")),))
    broken = derivation.replace(state=symbolic.BlockJacobian(
        derivation.state.rows, derivation.state.cols, {("h", "h"): dataclasses.replace(block, terms=(stray,))}))
    with pytest.raises(numeric.CompileError, match=r"zeta is not a declared state, input, parameter"):
        numeric.compile(broken)
