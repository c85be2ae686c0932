"""The one table of Jacobian names: which Jacobian of a cell a name such as ``"parameter:W"`` means.

``verify.check``, the claims, the mutation suite and the command line all read names here:

==================  ============  =============================================  ===========================
name                kind          the Jacobian (numerator layout)                 kernel of the compiled cell
==================  ============  =============================================  ===========================
``"state"``         state         ∂s'/∂s: every new state by every state          ``state_jacobian``
``"input"``         input         ∂s'/∂x (only for cells with inputs)             ``input_jacobian``
``"parameter:W"``   parameter     ∂s'/∂W, ``W`` flattened row-major               ``parameter_jacobian("W")``
``"gate_split:A"``  gate_split    A of J = A + B: the state Jacobian with every   ``gate_split()[0]``
                                  marked gate held at its value (the terms that
                                  pass through no gate)
``"gate_split:B"``  gate_split    B = J − A: the terms through a marked gate      ``gate_split()[1]``
                                  (only for cells with gates)
``"jvp"``           jvp           J·d for tangents d of every state, input and    ``jvp``
                                  parameter
``"vjp"``           vjp           Jᵀc for cotangents c of the new states          ``vjp``
==================  ============  =============================================  ===========================

(docs/theory.md: “The gate split”, “Conventions”.)  :func:`jacobian_names` lists a cell's
names in report order; :func:`parse_jacobian` turns a name into a :class:`JacobianName`, or
raises :class:`~symbolic.UnknownNameError` naming the close matches.

Each name is the derivative of one *view* of the step (:mod:`verify._oracles`):
``JacobianName.view`` is the key of that view, and ``minus`` the view whose derivative is
subtracted (B of the gate split is ∂step/∂s − ∂step_frozen/∂s).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gatejac.symbolic import BlockJacobian, Cell, Derivation, unknown_name

from ._errors import CheckError

KINDS = ("state", "input", "parameter", "gate_split", "jvp", "vjp")
"""Every kind of Jacobian, in report order."""


@dataclass(frozen=True)
class JacobianName:
    """One Jacobian of a cell: its ``name`` (``"parameter:W"``), ``kind`` (one of
    :data:`KINDS`), the ``parameter`` of a parameter Jacobian and the ``part`` (``"A"`` or
    ``"B"``) of the gate split."""

    name: str
    kind: str
    parameter: str | None = None
    part: str | None = None

    def __str__(self) -> str:
        return self.name

    @property
    def structured(self) -> bool:
        """A block matrix of structured terms (every kind but the ``jvp``/``vjp`` actions)."""
        return self.kind not in ("jvp", "vjp")

    @property
    def view(self) -> str:
        """The key of the view whose derivative this Jacobian is (``"frozen"``: the states
        with every marked gate held at its value)."""
        if self.kind == "gate_split":
            return "frozen" if self.part == "A" else "state"
        return self.name

    @property
    def minus(self) -> str | None:
        """The key of the view whose derivative is subtracted (``"frozen"`` for B), or None."""
        return "frozen" if self.part == "B" else None

    def blocks(self, derivation: Derivation) -> BlockJacobian:
        """The structured Jacobian of ``derivation`` this name means."""
        if self.kind in ("state", "input"):
            return getattr(derivation, self.kind)
        if self.kind == "parameter":
            return derivation.parameter(self.parameter)
        if self.kind == "gate_split":
            return getattr(derivation.gate_split(), self.part)
        raise CheckError(f"{self.name} is a Jacobian action, not a block matrix: it has no blocks")

    def replaced(self, derivation: Derivation, blocks: BlockJacobian) -> Derivation:
        """A copy of ``derivation`` with this Jacobian replaced by ``blocks`` (for a part
        of the gate split, the state Jacobian becomes ``blocks`` plus the other part)."""
        if self.kind == "gate_split":
            split = derivation.gate_split()
            other = split.B if self.part == "A" else split.A
            state = {key: replace(block, terms=blocks[key].terms + other[key].terms)
                     for key, block in derivation.state.blocks.items()}
            return derivation.replace(state=BlockJacobian(derivation.state.rows, derivation.state.cols, state))
        if self.kind == "parameter":
            return derivation.replace(parameters={self.parameter: blocks})
        if self.kind in ("state", "input"):
            return derivation.replace(**{self.kind: blocks})
        raise CheckError(f"{self.name} is a Jacobian action, not a block matrix: it has no blocks")

    def kernel(self, compiled, states, inputs, params):
        """The compiled cell's dense kernel of this Jacobian at a point (arrays of its backend).

        On the torch back-end, the torch kernels themselves: the raw generated function
        (``CompiledCell.kernel``) on the checked arguments (``CompiledCell.arguments_of``).  The
        checked ``state_jacobian``, ``input_jacobian`` and ``parameter_jacobian`` of plain CPU
        tensors run the NumPy kernels below ``numeric.TORCH_THROUGH_NUMPY_BELOW`` — every size
        ``verify.check`` uses — so calling them would check the NumPy kernels twice and the
        torch kernels never.  The gate split's kernels have no such route."""
        if self.kind == "gate_split":
            return compiled.gate_split(states, inputs, params)["AB".index(self.part)]
        if self.kind not in ("state", "input", "parameter"):
            raise CheckError(f"{self.name} is a Jacobian action: call compiled.{self.kind} with its tangents")
        if compiled.backend == "torch":
            name = f"parameter_jacobian_{self.parameter}" if self.kind == "parameter" else f"{self.kind}_jacobian"
            return compiled.kernel(name)(*compiled.arguments_of(states, inputs, params))
        if self.kind == "parameter":
            return compiled.parameter_jacobian(self.parameter, states, inputs, params)
        return getattr(compiled, f"{self.kind}_jacobian")(states, inputs, params)


def _table(cell: Cell) -> list[JacobianName]:
    names = [JacobianName("state", "state")]
    if cell.inputs:
        names.append(JacobianName("input", "input"))
    names += [JacobianName(f"parameter:{p.name}", "parameter", parameter=p.name) for p in cell.parameters]
    if cell.gates:
        names += [JacobianName(f"gate_split:{part}", "gate_split", part=part) for part in "AB"]
    return names + [JacobianName("jvp", "jvp"), JacobianName("vjp", "vjp")]


def _kinds(kinds) -> tuple[str, ...]:
    chosen = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    for kind in chosen:
        if kind not in KINDS:
            raise unknown_name("Jacobian kind", kind, list(KINDS))
    return chosen


def jacobian_names(cell: Cell, *, kinds=KINDS) -> list[str]:
    """Every Jacobian name of ``cell`` of the given ``kinds`` (default: all), in report order.

    Example::

        >>> jacobian_names(cells.get("multi_gate"), kinds=("state", "gate_split"))
        ['state', 'gate_split:A', 'gate_split:B']
    """
    chosen = _kinds(kinds)
    return [entry.name for entry in _table(cell) if entry.kind in chosen]


def parse_jacobian(cell: Cell, name, *, kinds=KINDS, hint: str = "") -> JacobianName:
    """The :class:`JacobianName` of ``name`` for ``cell``, among the Jacobians of ``kinds``.

    Raises :class:`~symbolic.UnknownNameError` naming the close matches and every name the
    cell has (``hint`` is appended, e.g. what the caller accepts)."""
    table = [entry for entry in _table(cell) if entry.kind in _kinds(kinds)]
    for entry in table:
        if entry.name == name:
            return entry
    raise unknown_name("Jacobian", name, [entry.name for entry in table], hint or f"(cell {cell.name!r})")
