"""Which tensor of a user's ``torch.nn.Module`` (or which key of a step function's
``params``) holds which parameter of the spec.

``verify.compare`` calls the implementation with the spec's parameter values: each module
parameter (by its path, ``"gate.weight"``) is rebuilt from spec parameters, so that
``torch.func`` differentiates through the module with respect to the spec's names.  A
*target* (:mod:`verify._compare_targets`) says where a spec parameter lives: a whole
tensor, a row or column block of it (``"weight_hh[4:8]"``, ``"gate.weight[:, :4]"``), or
its transpose (``"lin.weight.T"``).

The module tensors considered are its parameters and its floating-point buffers
(``register_buffer``: where a fixed, non-trainable spec parameter such as a gate's offset
legitimately lives).  A mapped buffer is rebuilt from the spec's parameter like a module
parameter (``torch.func.functional_call`` replaces both); a buffer no spec parameter fills (a
mask, a running statistic) keeps the module's value.

For a module, the map is built in this order; each step maps only what the earlier ones left:

1. ``mapping={spec parameter: target}`` as given;
2. the torch layout of the catalogue's torch-convention cells (``elman``, ``gru_torch``,
   ``lstm_torch``): :func:`numeric.module_parameters` says which cell parameters each of
   ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` stacks, in row-block order (a
   tensor whose parameter is already held by another — Elman's ``bias_hh``, which torch adds
   to ``bias_ih`` — is set to zeros);
3. by name: the one module parameter whose path, its last component, or the path of its
   submodule for a ``.weight`` is the spec name (case, dots and underscores ignored: ``W_f``
   is ``w_f``, ``cell.W_f`` and ``W_f.weight``), as it is or transposed, whichever fits;
4. by shape: the one module parameter left whose shape is the spec parameter's at the sizes;
   a buffer only where no module parameter has that shape.

Where blocks of a tensor lie is not inferred: a ``Linear`` over ``torch.cat([h, x])`` has a
weight ``(n, n + m)`` that ``[W | U]`` and ``[U | W]`` fit alike — which comes first is
decided by the order of the concatenation in ``forward``, which shapes cannot tell (inferring
it from the forward step's values would hide exactly the swapped-blocks bug the comparison
should catch).  For a spec parameter no whole tensor fits, the error lists such blocks as
candidates to give in ``mapping=``.  Once the
given blocks leave one contiguous run of rows or columns of a tensor, that block's position
is known, and step 4 gives it to the one spec parameter of its shape (``mapping={"W_f":
"gate.weight[:, :4]"}`` leaves ``gate.weight[:, 4:7]``, which is ``U_f``).

Sizes not given are read from the module tensors of steps 1–3 (``n`` from ``weight_hh``'s
columns, ...), then default as in ``verify.check``.  When a spec parameter is left with no
module tensor, or with several, :class:`~verify.CompareError` lists every unmapped spec
parameter with its shape and its candidates, then the module's parameters and buffers; a
module parameter no spec parameter fills is an error too (the comparison would otherwise run
with a random weight).

A step function's ``params`` are the spec's parameters under their own names; ``mapping=``
renames or packs them (:func:`function_map`): ``{"W_z": "W[:, :4]", "U_z": "W[:, 4:]"}``
passes one tensor ``params["W"] = [W_z, U_z]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import sympy

from gatejac.numeric import module_parameters, shapes
from gatejac.symbolic import SCALAR, Cell, MatrixParameter, unknown_name

from ._compare_errors import CompareError
from ._compare_targets import MAPPING_HINT, ParameterMap, Piece, grid, parse_target, place


def resolve(cell: Cell, named_shapes: Mapping[str, tuple[int, ...]], given: Mapping | None, sizes: Mapping | None,
            defaults: Mapping[str, int], module_name: str,
            buffer_shapes: Mapping[str, tuple[int, ...]] | None = None) -> tuple[ParameterMap, dict[str, int]]:
    """The :class:`ParameterMap` of ``cell`` onto a module whose parameters have
    ``named_shapes`` (``{path: shape}``) and whose floating-point buffers have
    ``buffer_shapes``, and the sizes (see the module docstring)."""
    resolver = _Resolver(cell, dict(named_shapes), dict(buffer_shapes or {}), dict(sizes or {}), module_name)
    for spec, target in (given or {}).items():
        resolver.add_given(spec, target)
    resolver.add_torch_layout()
    resolver.add_by_name()
    chosen = resolver.sizes = {name: resolver.sizes.get(name, defaults[name]) for name in defaults}
    resolver.add_by_shape(shapes(cell, chosen))
    return resolver.finish(shapes(cell, chosen)), chosen


def function_map(cell: Cell, given: Mapping[str, str], sizes: Mapping[str, int], name: str) -> ParameterMap:
    """The ``params`` of step function ``name`` under ``given`` targets (spec parameter →
    key of ``params``, a block or a transpose of it); the spec parameters not given keep
    their names.  Each key's shape is that of the blocks it holds."""
    spec_shapes, names = shapes(cell, sizes), [p.name for p in cell.parameters]
    for spec in given:
        if spec not in names:
            raise unknown_name("spec parameter", spec, names, f"(mapping= keys are cell {cell.name!r}'s parameters)")
    pieces = [place(spec, parse_target(spec, given[spec]), None, spec_shapes[spec]) if spec in given
              else Piece(spec, spec, how="own name") for spec in names]
    keys: dict[str, tuple[int, ...]] = {}
    for piece in pieces:
        own = spec_shapes[piece.spec][::-1] if piece.transpose else spec_shapes[piece.spec]
        rows, cols = piece.box(own)
        ends = ((rows[1],) + ((cols[1],) if cols else ())) if own else ()
        keys[piece.path] = tuple(map(max, keys[piece.path], ends)) if piece.path in keys else ends
    for path, shape in keys.items():
        held = [p for p in pieces if p.path == path]
        if any(p.shape_in(shape) != spec_shapes[p.spec] for p in held) or grid(held, shape) is None:
            texts = ", ".join(f"{p.spec} {spec_shapes[p.spec]} ← {p.target}" for p in held)
            raise CompareError(f"mapping=: the spec parameters given for params[{path!r}] of your {name} do not tile "
                               f"one tensor as blocks, each entry once, at sizes {dict(sizes)}: {texts}; "
                               + MAPPING_HINT)
    return ParameterMap(tuple(pieces), (), keys)


class _Resolver:
    def __init__(self, cell: Cell, parameter_shapes: dict, buffer_shapes: dict, sizes: dict, module_name: str):
        self.cell, self.sizes, self.module_name = cell, sizes, module_name
        self.parameter_shapes, self.buffer_shapes = parameter_shapes, buffer_shapes
        self.module_shapes = {**parameter_shapes, **buffer_shapes}
        self.dims = {p.name: _dims(p) for p in cell.parameters}
        self.pieces: dict[str, Piece] = {}
        self.zeros: list[str] = []

    # ------------------------------------------------------------------ steps
    def add_given(self, spec: str, target) -> None:
        if spec not in self.dims:
            raise unknown_name("spec parameter", spec, list(self.dims), f"(mapping= keys are cell {self.cell.name!r}'s "
                                                                       "parameters)")
        parsed = parse_target(spec, target)
        if parsed.path not in self.module_shapes:
            raise unknown_name("module parameter", parsed.path, list(self.module_shapes),
                               f"(mapping[{spec!r}] = {target!r}; {self.module_name}.named_parameters() and "
                               "its floating-point named_buffers())")
        piece = place(spec, parsed, self.module_shapes[parsed.path], None)
        shape = self._piece_shape(piece)
        if shape is None:
            raise CompareError(f"mapping[{spec!r}] = {target!r}: the slice does not fit {parsed.path} "
                               f"{self.module_shapes[parsed.path]}; {MAPPING_HINT}")
        if not self._bind(self.dims[spec], shape):
            raise CompareError(f"mapping[{spec!r}] = {target!r}: that is a tensor of shape {shape}, but {spec} has "
                               f"shape {self._spec_shape_text(spec)}{self._sizes_text()}")
        self.pieces[spec] = piece

    def add_torch_layout(self) -> None:
        used = self._used_paths()
        for path, specs in module_parameters(self.cell).items():
            if path not in self.module_shapes or path in used:
                continue
            if all(spec in self.pieces for spec in specs):
                self.zeros.append(path)
                continue
            rows = self.module_shapes[path][0] // len(specs) if self.module_shapes[path] else 0
            for j, spec in enumerate(specs):
                if spec in self.pieces:
                    continue
                piece = Piece(spec, path, (j * rows, (j + 1) * rows) if len(specs) > 1 else None, how="torch layout")
                shape = self._piece_shape(piece)
                if shape is not None and self._bind(self.dims[spec], shape):
                    self.pieces[spec] = piece

    def add_by_name(self) -> None:
        for spec in self.dims:
            if spec in self.pieces:
                continue
            free = [path for path in self.module_shapes if path not in self._used_paths()]
            named = [path for path in free if _normal(spec) in _names(path)]
            for path in named[:1] if len(named) == 1 else []:
                for transpose in (False, True):
                    piece = Piece(spec, path, None, transpose, "by name")
                    if self._bind(self.dims[spec], self._piece_shape(piece)):
                        self.pieces[spec] = piece
                        break

    def add_by_shape(self, spec_shapes: Mapping[str, tuple[int, ...]]) -> None:
        progress = True
        while progress:
            progress = False
            for spec in self.dims:
                if spec not in self.pieces:
                    candidates = self._candidates(spec, spec_shapes)
                    if len(candidates) == 1:
                        self.pieces[spec] = candidates[0]
                        progress = True

    def finish(self, spec_shapes: Mapping[str, tuple[int, ...]]) -> ParameterMap:
        unmapped = [spec for spec in self.dims if spec not in self.pieces]
        if unmapped:
            lines = []
            for spec in unmapped:
                candidates = ", ".join(p.target for p in self._candidates(spec, spec_shapes)) or "none"
                blocks = " or ".join(self._blocks(spec_shapes[spec])) if candidates == "none" else ""
                lines.append(f"  {spec} {spec_shapes[spec]}: candidates {candidates}"
                             + (f"; blocks of the right shape (not inferred: give one): {blocks}" if blocks else ""))
            mapped = ParameterMap(tuple(self.pieces.values()), (), self.module_shapes).text() or "nothing"
            raise CompareError(
                f"cannot map {len(unmapped)} parameter{'s' * (len(unmapped) > 1)} of cell {self.cell.name!r} onto "
                f"{self.module_name}'s parameters and buffers uniquely (by name or by shape) at sizes "
                f"{', '.join(f'{k}={v}' for k, v in self.sizes.items()) or 'the defaults'}; {MAPPING_HINT}\n"
                + "\n".join(lines)
                + f"\nmapped so far: {mapped}"
                + f"\nmodule parameters: {_shapes_text(self.parameter_shapes)}"
                + f"\nmodule buffers: {_shapes_text(self.buffer_shapes)}")
        for spec, piece in self.pieces.items():
            if self._piece_shape(piece) != spec_shapes[spec]:
                raise CompareError(f"{spec} ← {piece.target} ({piece.how}) has shape {self._piece_shape(piece)}, but "
                                   f"{spec} has shape {spec_shapes[spec]}{self._sizes_text()}; {MAPPING_HINT}")
        self._check_coverage()
        held = {p.path for p in self.pieces.values()}  # a buffer no spec parameter fills keeps its value
        return ParameterMap(tuple(self.pieces[spec] for spec in self.dims), tuple(self.zeros),
                            {path: shape for path, shape in self.module_shapes.items()
                             if path in self.parameter_shapes or path in held})

    # ------------------------------------------------------------------ helpers
    def _check_coverage(self) -> None:
        for path, shape in self.module_shapes.items():
            parts = [p for p in self.pieces.values() if p.path == path]
            if path in self.zeros or (path in self.buffer_shapes and not parts):
                continue
            if not parts or grid(parts, shape) is None:
                held = ", ".join(f"{p.spec} ← {p.target}" for p in parts) or "no spec parameter"
                kind = "buffer" if path in self.buffer_shapes else "parameter"
                raise CompareError(f"{self.module_name}'s {kind} {path} {shape} is not filled by the spec's "
                                   f"parameters (it holds {held}); every module parameter must be one spec parameter, "
                                   f"or blocks of several that tile it, each entry once; {MAPPING_HINT}")

    def _blocks(self, wanted: tuple[int, ...]) -> list[str]:
        """Row or column blocks of the right shape at either end of a module tensor not yet
        held whole: the hint for a parameter that has no whole tensor as a candidate and may
        share a tensor with others."""
        whole = {p.path for p in self.pieces.values() if p.rows is None and p.cols is None} | set(self.zeros)
        found = []
        for path, shape in self.module_shapes.items():
            if path in whole or len(shape) != len(wanted) or not shape:
                continue
            for axis in range(len(shape)):
                others = shape[:axis] + shape[axis + 1:] == wanted[:axis] + wanted[axis + 1:]
                if others and shape[axis] > wanted[axis]:
                    for start in (0, shape[axis] - wanted[axis]):
                        block = (start, start + wanted[axis])
                        rows, cols = (block, None) if axis == 0 else (None, block)
                        found.append(Piece("", path, rows, cols=cols).target)
        return found

    def _used_paths(self) -> set[str]:
        return {p.path for p in self.pieces.values()} | set(self.zeros)

    def _candidates(self, spec: str, spec_shapes) -> list[Piece]:
        free = [path for path in self.module_shapes if path not in self._used_paths()]
        wanted = spec_shapes[spec]
        pieces = [Piece(spec, path, how="by shape") for path in free if self.module_shapes[path] == wanted]
        if len(wanted) == 2 and wanted[0] != wanted[1]:
            pieces += [Piece(spec, path, None, True, "by shape") for path in free
                       if self.module_shapes[path] == wanted[::-1]]
        for gap in filter(None, map(self._gap, self.module_shapes)):
            for transpose in (False, True) if len(wanted) == 2 and wanted[0] != wanted[1] else (False,):
                piece = Piece(spec, gap.path, gap.rows, transpose, "by shape: the rest of the tensor", gap.cols)
                if piece.shape_in(self.module_shapes[gap.path]) == wanted:
                    pieces.append(piece)
        parameters = [p for p in pieces if p.path in self.parameter_shapes]
        return parameters or pieces  # a buffer only where no parameter fits

    def _gap(self, path: str) -> Piece | None:
        """The one block of tensor ``path`` that the pieces mapped so far leave, when they are
        row blocks (or column blocks) leaving one contiguous run of rows (of columns): its
        position is then known, so the spec parameter of its shape is unambiguous."""
        shape = self.module_shapes[path]
        boxes = [p.box(shape) for p in self.pieces.values() if p.path == path]
        if not boxes or path in self.zeros:
            return None
        for axis in range(len(shape)):
            across = [box[1 - axis] for box in boxes] if len(shape) == 2 else []
            if any(span != (0, shape[1 - axis]) for span in across):
                continue
            covered = sorted(box[axis] for box in boxes)
            edges = [0] + [e for span in covered for e in span] + [shape[axis]]
            gaps = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if a < b]
            if len(gaps) == 1 and all(a <= b for a, b in zip(edges, edges[1:])):
                return Piece("", path, gaps[0] if axis == 0 else None, cols=gaps[0] if axis == 1 else None)
        return None

    def _piece_shape(self, piece: Piece) -> tuple[int, ...] | None:
        return piece.shape_in(self.module_shapes[piece.path])

    def _bind(self, dims: tuple, shape: tuple[int, ...] | None) -> bool:
        """Whether ``shape`` fits the symbolic ``dims``; binds the sizes it determines."""
        if shape is None or len(dims) != len(shape):
            return False
        found = dict(self.sizes)
        for dim, value in zip(dims, shape):
            dim = sympy.sympify(dim)
            if dim.is_Integer:
                if int(dim) != value:
                    return False
            elif dim.is_Symbol and found.setdefault(dim.name, value) != value:
                return False
            # any other size expression is checked at the chosen sizes by finish()
        self.sizes = found
        return True

    def _spec_shape_text(self, spec: str) -> str:
        return "(" + ", ".join(str(d) for d in self.dims[spec]) + ("," if len(self.dims[spec]) == 1 else "") + ")"

    def _sizes_text(self) -> str:
        return f" at sizes {self.sizes}" if self.sizes else ""


def _dims(piece) -> tuple:
    if isinstance(piece, MatrixParameter):
        return tuple(piece.shape)
    return () if piece.size is SCALAR else (piece.size,)


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _names(path: str) -> set[str]:
    """The names a module parameter answers to: its path, its last component, and the
    path of a submodule's ``weight`` (``W_f.weight`` is ``W_f``)."""
    return {_normal(path), _normal(path.rsplit(".", 1)[-1]), _normal(path.removesuffix(".weight"))}


def _shapes_text(named_shapes: Mapping[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{path} {tuple(shape)}" for path, shape in named_shapes.items()) or "none"
