"""``verify.compare``: a user's own PyTorch implementation of a cell against its spec, term by term.

The comparison runs in the order in which a wrong implementation is best understood
(docs/verification.md: “Checking your own implementation”):

1. **forward** — the implementation's new states against the spec's step
   (``numeric.compile(cell, "numpy").step``), at the ``"reference"`` tolerance of the dtype.
   If the step is wrong, every Jacobian failure that follows comes from it, and the report
   says so first;
2. **intermediates** — the spec's named nodes (gates and ``let`` nodes) that the
   implementation exposes (:mod:`verify._compare_call` says how) against
   ``CompiledCell.intermediates``, in the spec's evaluation order; the first that diverges is
   where the step goes wrong;
3. **Jacobians** — every state, input and parameter Jacobian of the implementation
   (``torch.func.jacrev`` through it, the views of the ``"ad"`` oracle, :mod:`verify._oracles`)
   against gatejac's derived closed forms, at the ``"ad"`` tolerance (float32: the
   ``"reference"`` one); each failed block is attributed to the spec's terms
   (:mod:`verify._compare_terms`).

Values are drawn as ``verify.check`` draws them: point ``k`` is
``numeric.random_values(cell, sizes, batch=(2,), seed=seed + k)``.  The implementation is
called with those values (a module's parameters replaced by the spec's through the map of
:mod:`verify._compare_mapping`), never with its own weights.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import numpy as np

from gatejac import numeric
from gatejac.symbolic import Cell, Jacobian, unknown_name

from ._cells import resolve_cell
from ._check import default_sizes
from ._claims_attribution import ATTRIBUTION_POINTS
from ._compare_call import Implementation, call, name_of
from ._compare_class import instantiate
from ._compare_errors import CompareError
from ._compare_mapping import function_map, resolve
from ._compare_report import Comparison, Stage
from ._compare_terms import attribute_block
from ._comparison import compare as compare_arrays
from ._comparison import comparison_result, failed, max_abs
from ._jacobians import jacobian_names, parse_jacobian
from ._oracles import Oracles, entry_names, make_point, point_views
from ._sizes import checked_sizes
from ._terms import TermValues
from ._tolerances import tolerance

def compare(cell: Cell | str, implementation, *, mapping: Mapping[str, str] | None = None,
            intermediates: Mapping[str, str] | None = None, sizes: Mapping[str, int] | None = None,
            dtype: str = "float64", seed: int = 0, points: int = 2) -> Comparison:
    """Compare ``implementation`` — a ``torch.nn.Module`` or a step function — with the spec
    ``cell`` (a :class:`symbolic.Cell` or a catalogue name) and return a :class:`Comparison`.
    A class is instantiated first: with no arguments, or with the sizes when its constructor's
    parameters are named after them (``n``, ``m``, ``hidden_size``, ``input_size``;
    :func:`verify._compare_class.instantiate`).

    ``mapping`` gives spec parameter → module parameter targets where they cannot be inferred
    (``{"W_hz": "weight_hh[4:8]", "W_z": "gate.weight[:, :4]", "U": "lin.weight.T"}``,
    :mod:`verify._compare_targets`); for a step function it renames or packs its ``params``
    (:func:`verify._compare_mapping.function_map`);
    ``intermediates`` gives spec node → submodule or attribute path where the names differ.
    ``sizes`` default to the module's (read from its parameters), else to ``verify.check``'s.
    A call that fails raises :class:`~verify.CompareError` saying what was expected.

    Example::

        result = verify.compare("gru_torch", torch.nn.GRUCell(3, 4))
        print(result.to_text())        # PASSED: forward, intermediates, every Jacobian
    """
    for what, value, minimum in (("points", points, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise CompareError(f"compare({what}={value!r}): give an integer ≥ {minimum}")
    cell, prepared, chosen = prepare(cell, implementation, mapping=mapping, intermediates=intermediates, sizes=sizes,
                                     dtype=dtype)
    return run_comparison(cell, prepared, chosen, dtype=dtype, seed=seed, points=points)


def prepare(cell: Cell | str, implementation, *, mapping: Mapping[str, str] | None = None,
            intermediates: Mapping[str, str] | None = None, sizes: Mapping[str, int] | None = None,
            dtype: str = "float64") -> tuple[Cell, Implementation, dict[str, int]]:
    """Everything :func:`compare` does before it calls the implementation — the cell, a class
    built, the parameter map resolved, the sizes chosen — so that a caller with more work to do
    (``verify.design_report``) finds a bad implementation or mapping before doing it."""
    import torch

    cell = resolve_cell(cell, "compare", CompareError)
    if dtype not in numeric.DTYPES:
        raise unknown_name("dtype", dtype, list(numeric.DTYPES), "(compare runs the implementation in it)")
    for what, value in (("mapping", mapping), ("intermediates", intermediates)):
        if value is not None and not (isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values())):
            raise CompareError(f"compare({what}={value!r}): give a dict of names to module paths, e.g. "
                               + ('{"W_hz": "weight_hh[4:8]"}' if what == "mapping" else '{"f": "gate"}'))
    defaults = default_sizes(cell)
    given = checked_sizes(cell, sizes, where="compare(sizes=...)", defaults=None) if sizes is not None else {}
    if inspect.isclass(implementation):
        implementation = instantiate(implementation, cell, {**defaults, **given})
    if isinstance(implementation, torch.nn.Module):
        shapes = {path: tuple(p.shape) for path, p in implementation.named_parameters()}
        buffers = {path: tuple(b.shape) for path, b in implementation.named_buffers() if b.is_floating_point()}
        parameter_map, chosen = resolve(cell, shapes, mapping, given, defaults, type(implementation).__name__,
                                        buffers)
    elif callable(implementation):
        chosen = checked_sizes(cell, given, where="compare(sizes=...)", defaults=defaults)
        parameter_map = function_map(cell, mapping, chosen, name_of(implementation)) if mapping else None
    else:
        raise CompareError(f"compare() takes a torch.nn.Module or a step function step(x, h, params); got "
                           f"{type(implementation).__name__} {implementation!r}")
    return cell, Implementation(cell, implementation, parameter_map, intermediates, dtype), chosen


def run_comparison(cell: Cell, implementation: Implementation, sizes: Mapping[str, int], *, dtype: str = "float64",
                   seed: int = 0, points: int = 2) -> Comparison:
    """The three stages of :func:`compare` for an :class:`Implementation` at ``sizes`` (also
    ``verify.Claims(torch_step=...)``'s comparison); :class:`CompareError` if it cannot be
    called as it says."""
    return _Run(cell, implementation, dict(sizes), dtype, seed, points).comparison()


class _Run:
    """One call of :func:`compare`: the three stages, then the attribution of failed blocks."""

    def __init__(self, cell: Cell, implementation: Implementation, sizes: dict, dtype: str, seed: int, points: int):
        self.cell, self.implementation, self.sizes, self.dtype, self.seed = cell, implementation, sizes, dtype, seed
        self.compiled = numeric.compile(cell, "numpy")
        self.points = [make_point(cell, sizes, seed, k, representable_in=dtype) for k in range(points)]
        implementation.probe(*self.points[0].values("torch", "float64"))
        self.matrices: dict[str, list] = {}
        self.oracle = "ad" if dtype == "float64" else "reference"  # the Jacobians' tolerance

    def comparison(self) -> Comparison:
        parameter_map = self.implementation.parameter_map
        forward, exposed = self._forward()
        jacobians = self._jacobians()
        failed_names = [result.jacobian for result in jacobians.results if not result.passed]
        attributions = [a for name in failed_names for a in self._attribute(name)]
        return Comparison(self.cell.name, self.implementation.name, self.implementation.convention(),
                          parameter_map.to_dict() if parameter_map else {},
                          parameter_map.text() if parameter_map else "by name: step(..., params) gets the spec's",
                          dict(self.sizes), self.seed, len(self.points), self.dtype, [forward, exposed, jacobians],
                          attributions, {n.name: self.cell.text(n.expr) for n in self.cell.named})

    # ------------------------------------------------------------------ stages 1 and 2
    def _forward(self) -> tuple[Stage, Stage]:
        states = [s.name for s in self.cell.states]
        nodes = [n.name for n in self.cell.named]
        outcomes: dict[str, list] = {name: [] for name in states + nodes}
        for point in self.points:
            k = point.index
            (new, exposed), error = call(self.implementation.run, f"your {self.implementation.name}",
                                         *point.values("torch", "float64"))
            if error is not None:
                for name in states:
                    outcomes[name].append(failed(k, error))
                continue
            values = point.values("numpy", "float64")
            expected = {**self.compiled.step(*values), **self.compiled.intermediates(*values)}
            for name in states + [n for n in nodes if n in exposed]:
                actual = new[name] if name in new else exposed[name]
                outcomes[name].append(self._compare(np.asarray(actual.detach().numpy()), expected[name], k))
        shapes = numeric.shapes(self.cell, self.sizes)
        forward = [self._result(f"{s}'", outcomes[s], s, shapes[s]) for s in states]
        shown = [n for n in nodes if outcomes[n]]
        named = self.compiled.intermediates(*self.points[0].values("numpy", "float64"))
        middle = [self._result(n, outcomes[n], n, np.shape(named[n])[1:]) for n in shown]
        return Stage("forward", forward), Stage("intermediates", middle, [n for n in nodes if n not in shown])

    def _compare(self, actual: np.ndarray, expected: np.ndarray, k: int):
        expected = np.asarray(expected, dtype=np.float64)
        tol = tolerance("reference", self.dtype, max_abs(expected))
        if actual.size == expected.size:  # a scalar gate as (B,) or (B, 1): the same values
            actual = actual.reshape(expected.shape)
        if actual.shape != expected.shape:
            return failed(k, f"yours has shape {actual.shape[1:]} per sample, the spec's {expected.shape[1:]}")
        return compare_arrays(actual[..., None], expected[..., None], tol, k)

    def _result(self, name: str, outcomes: list, entry: str, shape):
        rows = entry_names(entry, tuple(shape))
        return comparison_result(self.cell.name, name, "spec", "torch", self.dtype, self.seed, (rows, ["value"]),
                                 outcomes)

    # ------------------------------------------------------------------ stage 3
    def _jacobians(self) -> Stage:
        yours = Oracles(self.cell, self.sizes, torch_step=lambda s, i, p, override: self.implementation.step(s, i, p))
        views = point_views(self.cell, self.sizes, {}, {})
        oracle = self.oracle
        results = []
        for name in jacobian_names(self.cell, kinds=("state", "input", "parameter")):
            jacobian = parse_jacobian(self.cell, name)
            view, outcomes, matrices = views[jacobian.view], [], []
            for point in self.points:
                matrix, error = call(yours.jacobian, f"torch.func.jacrev through your {self.implementation.name}",
                                     "ad", view, point)
                expected = np.asarray(jacobian.kernel(self.compiled, *point.values("numpy", "float64")))
                matrices.append(matrix)
                outcomes.append(failed(point.index, error) if error else compare_arrays(
                    matrix, expected, tolerance(oracle, self.dtype, max_abs(expected)), point.index))
            self.matrices[name] = matrices
            results.append(comparison_result(self.cell.name, name, "closed form", "torch", self.dtype, self.seed,
                                             (view.row_names(), view.column_names()), outcomes))
        return Stage("jacobians", results)

    def _attribute(self, name: str) -> list:
        """The term attribution of every failed block of Jacobian ``name``."""
        if any(m is None for m in self.matrices[name]):
            return []
        jacobian = parse_jacobian(self.cell, name)
        blocks = jacobian.blocks(self.compiled.derivation)
        values = TermValues(self.cell, self.sizes)
        chosen = self.points[:ATTRIBUTION_POINTS]
        substitutions = [values.substitution(p, b) for p in chosen for b in range(p.states[self.cell.states[0].name]
                                                                                  .shape[0])]
        yours = np.concatenate([self.matrices[name][p.index] for p in chosen])
        expected = np.concatenate([np.asarray(jacobian.kernel(self.compiled, *p.values("numpy", "float64")))
                                   for p in chosen])
        row_slices, col_slices = values.slices(blocks.rows), values.slices(blocks.cols)
        found = []
        for row in blocks.rows:
            for col in blocks.cols:
                part = (slice(None), row_slices[row], col_slices[col])
                tol = tolerance(self.oracle, self.dtype, max_abs(expected[part]))
                if np.all(np.abs(yours[part] - expected[part]) <= tol.bound(np.abs(expected[part]))):
                    continue
                derived = blocks.blocks.get((row, col)) or Jacobian(row, col, None, 0)
                found.append(attribute_block(values, name, (row, col), derived, yours[part], substitutions,
                                             jacobian.parameter, self.oracle, self.dtype))
        return found
