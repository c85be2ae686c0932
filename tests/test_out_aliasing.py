"""A dense ``out=`` on the NumPy back-end that shares memory with a value (a state, input or
parameter) is refused with ``ArgumentError`` naming the value, on the default kernels
(``numeric/_tensor_out.py: check_array_out``) and the whole-kernel numba ones of
``numeric.compile(..., jit=True)`` (tested inside the generated function, ``numeric/_jit_codegen.py``);
an ``out`` disjoint from every value, even cut from the same buffer, is accepted and written
right.  Without the check the kernels read values they have overwritten: the results differ
from an ``out=`` into a separate array (shown below with the check switched off)."""

from __future__ import annotations

import numpy as np
import pytest

from gatejac import numeric
from gatejac.numeric import _compiled, _jit_codegen, _jit_loading
from gatejac.symbolic import cells, derive
from gatejac.verify._tolerances import tolerance

SIZES = {"n": 3, "k": 2, "m": 2}
ROUTES = {"numpy": False, "jit": True}
_COMPILED: dict = {}


def compiled_of(name: str, route: str):
    """The cell ``name`` compiled for ``route`` (kept: the jit kernels compile once), or a skip
    for a jit kernel ``_jit_codegen`` does not write."""
    if (name, route) not in _COMPILED:
        _COMPILED[name, route] = numeric.compile(cells.get(name), "numpy", jit=ROUTES[route])
    compiled = _COMPILED[name, route]
    if isinstance(compiled.kernel("state_jacobian"), _jit_loading.RefusedKernel):
        pytest.skip(f"no whole-kernel state_jacobian for {name}")
    return compiled


def placed(values: tuple, name: str, buffer: np.ndarray, at: slice) -> tuple:
    """``values`` with value ``name`` copied into ``buffer[at]`` (same shape), the rest as given."""
    placed_groups = []
    for group in values:
        group = dict(group)
        if name in group:
            value = np.asarray(group[name])
            view = buffer[at].reshape(value.shape)
            view[...] = value
            group[name] = view
        placed_groups.append(group)
    return tuple(placed_groups)


def assert_close(actual, reference, what: str) -> None:
    """Equal to float64's ``reference`` tolerance (``verify/_tolerances.py``)."""
    bound = tolerance("reference", "float64", np.max(np.abs(reference), initial=0.0))
    assert np.all(np.abs(actual - reference) <= bound.bound(np.abs(reference))), what


def names_and_values(name: str):
    values = numeric.random_values(cells.get(name), SIZES, seed=3)
    return [n for group in values for n in group], values


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", cells.names())
def test_an_out_on_a_values_memory_is_refused(name, route):
    """Every state, input and parameter in turn lives at the start of a buffer ``out`` also
    starts at: ``state_jacobian(out=)`` and ``input_jacobian(out=)`` raise ``ArgumentError``
    naming it, and write nothing."""
    compiled = compiled_of(name, route)
    names, values = names_and_values(name)
    kernels = ["state_jacobian"] + ["input_jacobian"] * (
        bool(compiled.cell.inputs) and not isinstance(compiled.kernel("input_jacobian"), _jit_loading.RefusedKernel))
    for kernel in kernels:
        assert_refused(getattr(compiled, kernel), names, values, f"{name} {route} {kernel}")


def assert_refused(jacobian, names: list, values: tuple, what: str) -> None:
    """``jacobian(*values, out=)`` refuses an ``out`` at the start of each value's memory."""
    shape = jacobian(*values).shape
    size = int(np.prod(shape))
    for value_name in names:
        value_size = np.asarray(next(g[value_name] for g in values if value_name in g)).size
        buffer = np.zeros(max(size, value_size))
        aliased = placed(values, value_name, buffer, slice(0, value_size))
        out = buffer[:size].reshape(shape)
        before = buffer.copy()
        with pytest.raises(numeric.ArgumentError, match=f"out shares memory with {value_name}[,;].*omit out"):
            jacobian(*aliased, out=out)
        np.testing.assert_array_equal(buffer, before, err_msg=f"{what}: out written before the refusal")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", ["elman", "gru_torch", "lstm_torch"])
def test_disjoint_views_of_one_buffer_are_accepted(name, route):
    """Each value and ``out`` as adjacent, non-overlapping slices of one buffer (the value just
    before ``out``: the test's ends are strict), and each value every ``size + 1``-th element of
    a buffer ``out`` lies between (bounds overlap, no element shared): accepted, and the result
    is the Jacobian of a separate ``out``."""
    compiled = compiled_of(name, route)
    names, values = names_and_values(name)
    expected = compiled.state_jacobian(*values)
    size = expected.size
    for value_name in names:
        value_size = np.asarray(next(g[value_name] for g in values if value_name in g)).size
        buffer = np.zeros(value_size + size)
        adjacent = placed(values, value_name, buffer, slice(0, value_size))
        out = buffer[value_size:].reshape(expected.shape)
        assert compiled.state_jacobian(*adjacent, out=out) is out
        assert_close(out, expected, f"{name} {route}: {value_name} just before out")
        step = size + 1
        buffer = np.zeros(step * value_size)
        interleaved = placed(values, value_name, buffer, slice(0, None, step))
        out = buffer[1:1 + size].reshape(expected.shape)
        assert compiled.state_jacobian(*interleaved, out=out) is out
        assert_close(out, expected, f"{name} {route}: {value_name} interleaved with out")


def wrong_without_the_check(compiled, name: str) -> list:
    """The values of cell ``name`` an ``out`` on whose memory gives a result that differs from
    the separate ``out``'s (the check switched off by the caller).  ``out`` starts one output row
    after the value, so that each row it writes overwrites entries a later row reads (on the
    same start an in-place row may read each entry just before it writes it)."""
    names, values = names_and_values(name)
    expected = compiled.state_jacobian(*values)
    row, wrong = expected.shape[-1], []
    for value_name in names:
        value_size = np.asarray(next(g[value_name] for g in values if value_name in g)).size
        buffer = np.zeros(max(row + expected.size, value_size))
        aliased = placed(values, value_name, buffer, slice(0, value_size))
        out = buffer[row:row + expected.size].reshape(expected.shape)
        if not np.allclose(compiled.state_jacobian(*aliased, out=out), expected):
            wrong.append(value_name)
    return wrong


def test_without_the_check_the_numpy_kernels_are_wrong(monkeypatch):
    """With ``check_array_out`` a no-op an ``out`` on a weight matrix's memory silently gives
    another Jacobian than a separate ``out``: the refusal is what keeps it from the user."""
    monkeypatch.setattr(_compiled, "check_array_out", lambda order, values, out: None)
    wrong = wrong_without_the_check(numeric.compile(cells.get("gru_torch"), "numpy"), "gru_torch")
    assert "W_hr" in wrong or "W_hz" in wrong or "W_hn" in wrong, wrong


def test_without_the_check_the_jit_kernels_are_wrong(monkeypatch):
    """The jit kernels generated without their overlap test (a new source, compiled once)
    silently give another Jacobian for an ``out`` on a weight matrix's memory."""
    monkeypatch.setattr(_jit_codegen._Kernel, "_overlap_lines", staticmethod(lambda args: []))
    compiled = _compiled.CompiledCell(derive(cells.get("gru_torch")), "numpy", True)
    assert "ctypes" not in compiled.jit_source
    wrong = wrong_without_the_check(compiled, "gru_torch")
    assert "W_hr" in wrong or "W_hz" in wrong or "W_hn" in wrong, wrong


@pytest.mark.parametrize("route", ROUTES)
def test_a_parameter_jacobian_out_on_a_values_memory_is_refused(route):
    """``parameter_jacobian(out=)``, a NumPy kernel on both routes, refuses it too."""
    compiled = compiled_of("gru_torch", route)
    names, values = names_and_values("gru_torch")
    assert_refused(lambda *v, out=None: compiled.parameter_jacobian("W_hr", *v, out=out), names, values,
                   f"gru_torch {route} parameter_jacobian W_hr")
