"""Which tensor of a user's ``torch.nn.Module`` holds which parameter of the spec.

``verify.compare`` calls the module with the spec's parameter values: each module parameter
(by its path, ``"gate.weight"``) is rebuilt from spec parameters, so that ``torch.func``
differentiates through the module with respect to the spec's names.  A *target* says where
a spec parameter lives:

==============================  =======================================================
target                          the spec parameter is
==============================  =======================================================
``"gate.weight"``               the whole module tensor
``"weight_hh[4:8]"``            rows 4–7 of it (torch stacks gates' row blocks)
``"lin.weight.T"``              its transpose (the module computes ``x @ W``)
``"weight_ih[0:4].T"``          the transpose of a row block
==============================  =======================================================

The map is built in this order; each step maps only what the earlier ones left:

1. ``mapping={spec parameter: target}`` as given;
2. the torch layout of the catalogue's torch-convention cells (``elman``, ``gru_torch``,
   ``lstm_torch``): :func:`numeric.module_parameters` says which cell parameters each of
   ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` stacks, in row-block order (a
   tensor whose parameter is already held by another — Elman's ``bias_hh``, which torch adds
   to ``bias_ih`` — is set to zeros);
3. by name: the one module parameter whose path, its last component, or the path of its
   submodule for a ``.weight`` is the spec name (case, dots and underscores ignored: ``W_f``
   is ``w_f``, ``cell.W_f`` and ``W_f.weight``), as it is or transposed, whichever fits;
4. by shape: the one module parameter left whose shape is the spec parameter's at the sizes.

Sizes not given are read from the module tensors of steps 1–3 (``n`` from ``weight_hh``'s
columns, ...), then default as in ``verify.check``.  When a spec parameter is left with no
module tensor, or with several, :class:`~verify.CompareError` lists every unmapped spec
parameter with its shape and its candidates; a module parameter no spec parameter fills is
an error too (the comparison would otherwise run with a random weight).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import sympy

from gatejac.numeric import module_parameters, shapes
from gatejac.symbolic import SCALAR, Cell, MatrixParameter, unknown_name

from ._compare_errors import CompareError

_TARGET = re.compile(r"^(?P<path>[A-Za-z_][\w.]*?)(?:\[(?P<start>\d+):(?P<stop>\d+)\])?(?P<T>\.T)?$")
MAPPING_HINT = ('give mapping={spec parameter: module parameter}, e.g. {"W_hz": "weight_hh[4:8]", '
                '"U": "lin.weight.T"} (a row slice [a:b] and .T for a transpose are allowed)')


@dataclass(frozen=True)
class Piece:
    """Spec parameter ``spec`` is rows ``rows`` (all of them when ``None``) of module tensor
    ``path``, transposed if ``transpose``; ``how`` says how the map was found."""

    spec: str
    path: str
    rows: tuple[int, int] | None = None
    transpose: bool = False
    how: str = "given"

    @property
    def target(self) -> str:
        rows = "" if self.rows is None else f"[{self.rows[0]}:{self.rows[1]}]"
        return f"{self.path}{rows}{'.T' if self.transpose else ''}"


@dataclass(frozen=True)
class ParameterMap:
    """Every module tensor as spec parameters: the ``pieces``, the tensors set to ``zeros``,
    and each module tensor's shape."""

    pieces: tuple[Piece, ...]
    zeros: tuple[str, ...]
    module_shapes: Mapping[str, tuple[int, ...]]

    def tensors(self, params: Mapping) -> dict:
        """``{module path: tensor}`` built from the spec's ``params`` (torch tensors; the
        result is differentiable with respect to them)."""
        import torch

        out = {}
        for path, shape in self.module_shapes.items():
            if path in self.zeros:
                reference = next(iter(params.values()))
                out[path] = torch.zeros(shape, dtype=reference.dtype, device=reference.device)
                continue
            parts = sorted((p for p in self.pieces if p.path == path), key=lambda p: p.rows or (0, 0))
            blocks = [params[p.spec].T if p.transpose else params[p.spec] for p in parts]
            out[path] = blocks[0] if len(blocks) == 1 else torch.cat(blocks)
        return out

    def to_dict(self) -> dict[str, str]:
        """``{spec parameter: target}`` (a mapping ``compare`` accepts back)."""
        return {p.spec: p.target for p in self.pieces}

    def text(self) -> str:
        """Each module tensor as spec parameters, ``weight_hh = [W_hr; W_hz; W_hn] (torch
        layout), lin.weight = Uᵀ (by name)``, on one line."""
        parts = []
        for path in self.module_shapes:
            held = sorted((p for p in self.pieces if p.path == path), key=lambda p: p.rows or (0, 0))
            if path in self.zeros:
                parts.append(f"{path} = 0 (torch adds it to another)")
            elif held:
                blocks = [p.spec + ("ᵀ" if p.transpose else "") for p in held]
                value = blocks[0] if len(blocks) == 1 else "[" + "; ".join(blocks) + "]"
                parts.append(f"{path} = {value} ({held[0].how})")
        return ", ".join(parts)


def parse_target(spec: str, target) -> Piece:
    """The :class:`Piece` of ``mapping[spec] = target``, or :class:`CompareError`."""
    match = _TARGET.match(target) if isinstance(target, str) else None
    if match is None or (match["start"] is not None and int(match["start"]) >= int(match["stop"])):
        raise CompareError(f"mapping[{spec!r}] = {target!r} is not a module parameter target; {MAPPING_HINT}")
    rows = None if match["start"] is None else (int(match["start"]), int(match["stop"]))
    return Piece(spec, match["path"], rows, bool(match["T"]))


def resolve(cell: Cell, named_shapes: Mapping[str, tuple[int, ...]], given: Mapping | None, sizes: Mapping | None,
            defaults: Mapping[str, int], module_name: str) -> tuple[ParameterMap, dict[str, int]]:
    """The :class:`ParameterMap` of ``cell`` onto a module whose parameters have
    ``named_shapes`` (``{path: shape}``), and the sizes (see the module docstring)."""
    resolver = _Resolver(cell, dict(named_shapes), dict(sizes or {}), module_name)
    for spec, target in (given or {}).items():
        resolver.add_given(spec, target)
    resolver.add_torch_layout()
    resolver.add_by_name()
    chosen = resolver.sizes = {name: resolver.sizes.get(name, defaults[name]) for name in defaults}
    resolver.add_by_shape(shapes(cell, chosen))
    return resolver.finish(shapes(cell, chosen)), chosen


class _Resolver:
    def __init__(self, cell: Cell, module_shapes: dict, sizes: dict, module_name: str):
        self.cell, self.module_shapes, self.sizes, self.module_name = cell, module_shapes, sizes, module_name
        self.dims = {p.name: _dims(p) for p in cell.parameters}
        self.pieces: dict[str, Piece] = {}
        self.zeros: list[str] = []

    # ------------------------------------------------------------------ steps
    def add_given(self, spec: str, target) -> None:
        if spec not in self.dims:
            raise unknown_name("spec parameter", spec, list(self.dims), f"(mapping= keys are cell {self.cell.name!r}'s "
                                                                       "parameters)")
        piece = parse_target(spec, target)
        if piece.path not in self.module_shapes:
            raise unknown_name("module parameter", piece.path, list(self.module_shapes),
                               f"(mapping[{spec!r}] = {target!r}; {self.module_name}.named_parameters())")
        shape = self._piece_shape(piece)
        if shape is None or not self._bind(self.dims[spec], shape):
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
                lines.append(f"  {spec} {spec_shapes[spec]}: candidates {candidates}")
            mapped = ParameterMap(tuple(self.pieces.values()), (), self.module_shapes).text() or "nothing"
            raise CompareError(
                f"cannot map {len(unmapped)} parameter{'s' * (len(unmapped) > 1)} of cell {self.cell.name!r} onto "
                f"{self.module_name}'s parameters uniquely (by name or by shape) at sizes "
                f"{', '.join(f'{k}={v}' for k, v in self.sizes.items()) or 'the defaults'}; {MAPPING_HINT}\n"
                + "\n".join(lines)
                + f"\nmapped so far: {mapped}"
                + f"\nmodule parameters: {_shapes_text(self.module_shapes)}")
        for spec, piece in self.pieces.items():
            if self._piece_shape(piece) != spec_shapes[spec]:
                raise CompareError(f"{spec} ← {piece.target} ({piece.how}) has shape {self._piece_shape(piece)}, but "
                                   f"{spec} has shape {spec_shapes[spec]}{self._sizes_text()}; {MAPPING_HINT}")
        self._check_coverage()
        return ParameterMap(tuple(self.pieces[spec] for spec in self.dims), tuple(self.zeros), self.module_shapes)

    # ------------------------------------------------------------------ helpers
    def _check_coverage(self) -> None:
        for path, shape in self.module_shapes.items():
            if path in self.zeros:
                continue
            parts = sorted((p for p in self.pieces.values() if p.path == path), key=lambda p: p.rows or (0, 0))
            rows = [p.rows or (0, shape[0] if shape else 0) for p in parts]
            whole = len(parts) == 1 and parts[0].rows is None
            tiled = bool(parts) and rows[0][0] == 0 and rows[-1][1] == (shape[0] if shape else 0) and all(
                a[1] == b[0] for a, b in zip(rows, rows[1:]))
            if not (whole or (tiled and all(p.rows is not None for p in parts))):
                held = ", ".join(f"{p.spec} ← {p.target}" for p in parts) or "no spec parameter"
                raise CompareError(f"{self.module_name}'s parameter {path} {shape} is not filled by the spec's "
                                   f"parameters (it holds {held}); every module parameter must be one spec parameter, "
                                   f"or row blocks of several covering it; {MAPPING_HINT}")

    def _used_paths(self) -> set[str]:
        return {p.path for p in self.pieces.values()} | set(self.zeros)

    def _candidates(self, spec: str, spec_shapes) -> list[Piece]:
        free = [path for path in self.module_shapes if path not in self._used_paths()]
        wanted = spec_shapes[spec]
        pieces = [Piece(spec, path, how="by shape") for path in free if self.module_shapes[path] == wanted]
        if len(wanted) == 2 and wanted[0] != wanted[1]:
            pieces += [Piece(spec, path, None, True, "by shape") for path in free
                       if self.module_shapes[path] == wanted[::-1]]
        return pieces

    def _piece_shape(self, piece: Piece) -> tuple[int, ...] | None:
        shape = self.module_shapes[piece.path]
        if piece.rows is not None:
            if not shape or piece.rows[1] > shape[0]:
                return None
            shape = (piece.rows[1] - piece.rows[0], *shape[1:])
        return shape[::-1] if piece.transpose else shape

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
