"""How ``verify.compare`` calls a user's implementation of a cell's step.

Calling conventions (the spec's inputs and states in declaration order):

==========================  ==============================================================
implementation              called as
==========================  ==============================================================
``torch.nn.Module``         ``module(x, h)``; several inputs ``module(x, u, h)``; several
                            states as one tuple, ``module(x, (h, c))`` — as
                            ``torch.nn.RNNCell`` / ``GRUCell`` / ``LSTMCell`` are called.
                            Its parameters are replaced by the spec's values
                            (``torch.func.functional_call``, :mod:`verify._compare_mapping`);
                            the module itself is never modified (a float64 copy is called).
a function                  ``step(x, h, params)`` / ``step(x, (h, c), params)`` with
                            ``params`` the spec's parameters by name (torch tensors), or
                            renamed and packed as ``mapping=`` says
                            (:func:`verify._compare_mapping.function_map`)
a function, ``keyed=True``  ``step(states, inputs, params)``, each a dict keyed by spec
                            name: ``verify.Claims(torch_step=...)``'s convention
==========================  ==============================================================

The result is the new state: a tensor (one state), a tuple or list of tensors in the spec's
state order (``(h, c)``), or a dict keyed by state name.  A dict may hold named
intermediates of the spec too (``{"h": h_new, "f": f}``).

*Batched or not*: the first call passes a batch of two samples, ``x`` of shape ``(2, m)``;
if that raises, or returns new states that are not ``(2, n)``, one sample is passed,
``x`` of shape ``(m,)`` (:meth:`Implementation.probe`), and from then on every sample is
called on its own and the results are stacked (gatejac adds and removes the batch
dimension; the report says so).  If both calls fail, :class:`~verify.CompareError` says how
the implementation was called, with which shapes, what each call raised, and what gatejac
expects.

*Named intermediates* (the spec's gates and ``let`` nodes, compared one by one) are taken,
for each node name ``f`` (or the path ``intermediates={"f": path}`` gives), from

1. the dict the implementation returns, key ``f``;
2. the output of the module's submodule ``f`` (a forward hook; e.g. ``self.f =
   nn.Sequential(nn.Linear(...), nn.Sigmoid())``);
3. a tensor attribute ``f`` the module sets while it runs (``self.f = torch.sigmoid(...)``).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping

from gatejac.symbolic import Cell

from ._compare_errors import CompareError
from ._compare_targets import ParameterMap


def call(function: Callable, what: str, *arguments):
    """``(function(*arguments), None)``, or ``(None, what happened)`` if the user's code raised."""
    try:
        return function(*arguments), None
    except Exception as exc:  # the user's code: report, never a traceback
        return None, f"{what} raised {type(exc).__name__}: {exc}"


class Implementation:
    """A user's module or step function called as a gatejac step (see the module docstring):
    :meth:`step` ``(states, inputs, params) -> {state: new value}`` on batched float64
    tensors keyed by spec names, and :meth:`run`, which also returns the exposed
    intermediates."""

    def __init__(self, cell: Cell, implementation, parameter_map: ParameterMap | None,
                 intermediates: Mapping[str, str] | None = None, dtype: str = "float64", *, keyed: bool = False):
        import torch

        self.cell, self.parameter_map = cell, parameter_map
        self.dtype = getattr(torch, dtype)
        self.is_module = isinstance(implementation, torch.nn.Module)
        self.keyed = keyed and not self.is_module
        self.name = name_of(implementation)
        self.callable = self._copy(implementation, dtype) if self.is_module else implementation
        self.batched = True
        self.nodes = [n.name for n in cell.named]
        self.sources = {node: (intermediates or {}).get(node, node) for node in self.nodes}
        self._captured: dict | None = None
        if self.is_module:
            self._hook_submodules()

    def _copy(self, module, dtype: str):
        """The module in ``dtype``, a deep copy (the user's module is never modified)."""
        copied, error = call(copy.deepcopy, "copy.deepcopy", module)
        if error is not None:
            raise CompareError(f"cannot copy your {self.name}: {error}. gatejac calls a {dtype} copy of your module "
                               "and never modifies it; keep what cannot be copied (a lock, an open file) out of its "
                               "attributes, e.g. at module level")
        return copied.to(self.dtype)

    # ------------------------------------------------------------------ what the report says
    def signature(self) -> str:
        """How the implementation is called: ``module(x, h)``, ``step(x, (h, c), params)``."""
        inputs = [i.name for i in self.cell.inputs]
        states = [s.name for s in self.cell.states]
        state = states[0] if len(states) == 1 else "(" + ", ".join(states) + ")"
        arguments = "states, inputs" if self.keyed else ", ".join([*inputs, state])
        return f"module({arguments})" if self.is_module else f"step({arguments}, params)"

    def convention(self) -> str:
        """The signature and the batching, e.g. ``GRUCell called as module(x, h), batched ...``."""
        batch = "batched (2 samples per call)" if self.batched else \
            "unbatched: called one sample at a time, results stacked by gatejac"
        return f"{self.name} called as {self.signature()}, {batch}"

    # ------------------------------------------------------------------ calls
    def probe(self, states, inputs, params) -> None:
        """Decide batched or unbatched at one point (see the module docstring)."""
        batched = self._attempt(states, inputs, params, batched=True)
        if batched is None:
            return
        single = self._attempt(states, inputs, params, batched=False)
        if single is None:
            self.batched = False
            return
        raise CompareError(f"cannot call your {self.name}: gatejac calls it as "
                           f"{self.signature()} and takes {self._returns()}.\n"
                           f"  batched, {_shapes(states, inputs)}: {batched}\n"
                           f"  one sample, {_shapes(states, inputs, sample=True)}: {single}")

    def step(self, states, inputs, params) -> dict:
        """``{state: new value}`` (batched float64 tensors), or :class:`CompareError`."""
        return self.run(states, inputs, params, capture=False)[0]

    def run(self, states, inputs, params, *, capture: bool = True) -> tuple[dict, dict]:
        """The new states and the exposed intermediates, both batched float64."""
        import torch

        if self.batched:
            return self._call(states, inputs, params, capture)
        outputs = [self._call(*_sample(states, inputs, b), params, capture)
                   for b in range(next(iter(states.values())).shape[0])]
        common = [set(o[1]) for o in outputs]  # an intermediate exposed for every sample
        exposed = {k: torch.stack([o[1][k] for o in outputs]) for k in outputs[0][1] if all(k in c for c in common)}
        return {k: torch.stack([o[0][k] for o in outputs]) for k in outputs[0][0]}, exposed

    def _attempt(self, states, inputs, params, *, batched: bool) -> str | None:
        """``None`` if a call in this mode gives new states of the right shapes, else what happened."""
        if not batched:
            states, inputs = _sample(states, inputs, 0)
        result, error = call(lambda: self._call(states, inputs, params, False)[0], "the call")
        if error is not None:
            return error.removeprefix("the call ")
        for state in self.cell.states:
            if tuple(result[state.name].shape) != tuple(states[state.name].shape):
                return (f"returned {state.name} of shape {tuple(result[state.name].shape)}; expected "
                        f"{tuple(states[state.name].shape)}")
        return None

    def _call(self, states, inputs, params, capture: bool) -> tuple[dict, dict]:
        import torch

        cast = lambda x: x.to(self.dtype)  # noqa: E731
        arguments = [cast(inputs[i.name]) for i in self.cell.inputs]
        names = [s.name for s in self.cell.states]
        state = cast(states[names[0]]) if len(names) == 1 else tuple(cast(states[n]) for n in names)
        if self.parameter_map is not None:
            params = self.parameter_map.tensors(params)
        params = {k: cast(v) for k, v in params.items()}
        self._captured = {} if capture else None
        try:
            if self.is_module:
                output = torch.func.functional_call(self.callable, params, (*arguments, state))
            elif self.keyed:
                output = self.callable({n: cast(states[n]) for n in names},
                                       {i.name: cast(inputs[i.name]) for i in self.cell.inputs}, params)
            else:
                output = self.callable(*arguments, state, params)
            new, exposed = self._parse(output)
            if capture:
                exposed = {**self._captured, **self._attributes(), **exposed}
        finally:
            self._captured = None
        as64 = lambda group: {k: torch.as_tensor(v).to(torch.float64) for k, v in group.items()}  # noqa: E731
        return as64(new), as64({k: v for k, v in exposed.items() if k in self.nodes})

    def _parse(self, output) -> tuple[dict, dict]:
        import torch

        names = [s.name for s in self.cell.states]
        if isinstance(output, Mapping) and set(names) <= set(output):
            return {n: output[n] for n in names}, {self._node_of(k): v for k, v in output.items() if k not in names}
        if isinstance(output, torch.Tensor) and len(names) == 1:
            return {names[0]: output}, {}
        if isinstance(output, (tuple, list)) and len(output) == len(names) and all(
                isinstance(o, torch.Tensor) for o in output):
            return dict(zip(names, output)), {}
        raise CompareError(f"your {self.name} returned {_describe(output)}; gatejac takes {self._returns()}")

    def _returns(self) -> str:
        names = [s.name for s in self.cell.states]
        if len(names) == 1:
            return f"the new state {names[0]} (a tensor, or a dict with key {names[0]!r})"
        return f"the new states as a tuple ({', '.join(names)}) or a dict with keys {names}"

    # ------------------------------------------------------------------ intermediates
    def _node_of(self, key: str) -> str:
        return next((node for node, source in self.sources.items() if source == key), key)

    def _hook_submodules(self) -> None:
        modules = dict(self.callable.named_modules())
        for node, source in self.sources.items():
            if source in modules and source:
                modules[source].register_forward_hook(self._hook(node))

    def _hook(self, node: str) -> Callable:
        def capture(module, arguments, output):
            if self._captured is not None:
                self._captured[node] = output
        return capture

    def _attributes(self) -> dict:
        import torch

        if not self.is_module:
            return {}
        found = {}
        for node, source in self.sources.items():
            value = self.callable
            for part in source.split("."):
                value = getattr(value, part, None)
            if isinstance(value, torch.Tensor) and not isinstance(value, torch.nn.Parameter):
                found[node] = value
        return found


def _sample(states, inputs, b: int) -> tuple[dict, dict]:
    return {k: v[b] for k, v in states.items()}, {k: v[b] for k, v in inputs.items()}


def _shapes(states, inputs, sample: bool = False) -> str:
    values = {**inputs, **states}
    return ", ".join(f"{k} {tuple(v.shape[1:] if sample else v.shape)}" for k, v in values.items())


def _describe(value) -> str:
    if isinstance(value, Mapping):
        return f"a dict with keys {sorted(map(str, value))}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}: ({', '.join(type(v).__name__ for v in value)})"
    return type(value).__name__


def name_of(implementation) -> str:
    """What the report calls the user's code: a function's name, else its class's."""
    if inspect.isfunction(implementation) or inspect.ismethod(implementation):
        return implementation.__name__
    return type(implementation).__name__
