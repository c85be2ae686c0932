"""Where a spec parameter lives in a user's tensors: the *targets* of ``verify.compare``'s
``mapping=``, and the :class:`ParameterMap` that rebuilds every user tensor from the spec's.

==============================  =======================================================
target                          the spec parameter is
==============================  =======================================================
``"gate.weight"``               the whole tensor
``"weight_hh[4:8]"``            rows 4–7 of it (torch stacks gates' row blocks)
``"gate.weight[:, :4]"``        its first four columns (a ``Linear`` over
                                ``torch.cat([h, x])``: ``W @ h + U @ x``)
``"gate.weight[0:4, 4:]"``      a row block of those columns
``"lin.weight.T"``              its transpose (the module computes ``x @ W``)
``"weight_ih[0:4].T"``          the transpose of a row block
==============================  =======================================================

Slices are Python's (``[:4]`` is ``[0:4]``, ``[4:]`` runs to the end of the tensor), without
steps or negative bounds.  The parameters that share one tensor must tile it as a grid: row
blocks, column blocks, or both (``[W_ii, W_hi; W_if, W_hf; …]``), every entry held once —
:func:`grid` says whether they do, :meth:`ParameterMap.tensors` concatenates them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ._compare_errors import CompareError

_TARGET = re.compile(r"^(?P<path>[A-Za-z_][\w.]*?)(?:\[(?P<index>[^\]]*)\])?(?P<T>\.T)?$")
_RANGE = re.compile(r"^\s*(?P<start>\d*)\s*:\s*(?P<stop>\d*)\s*$")
MAPPING_HINT = ('give mapping={spec parameter: target}, e.g. {"W_hz": "weight_hh[4:8]", "W_z": "gate.weight[:, :4]", '
                '"U": "lin.weight.T"} (row and column slices [a:b, c:d] and .T for a transpose are allowed)')

Range = tuple[int, int]
"""``(start, stop)`` of a block of rows or columns."""
OpenRange = tuple[int | None, int | None]


@dataclass(frozen=True)
class Target:
    """A parsed target before its open slice bounds are known: ``rows`` and ``cols`` are
    ``None`` for all of them, else ``(start, stop)`` with ``None`` for an open end."""

    path: str
    rows: OpenRange | None
    cols: OpenRange | None
    transpose: bool


@dataclass(frozen=True)
class Piece:
    """Spec parameter ``spec`` is rows ``rows`` and columns ``cols`` (all of them when
    ``None``) of tensor ``path``, transposed if ``transpose``; ``how`` says how the map was
    found (``"given"``, ``"torch layout"``, ``"by name"``, ``"by shape"``)."""

    spec: str
    path: str
    rows: Range | None = None
    transpose: bool = False
    how: str = "given"
    cols: Range | None = None

    @property
    def target(self) -> str:
        """The target text (a mapping ``compare`` accepts back)."""
        rows = "" if self.rows is None else f"{self.rows[0]}:{self.rows[1]}"
        index = rows if self.cols is None else f"{rows or ':'}, {self.cols[0]}:{self.cols[1]}"
        return f"{self.path}{f'[{index}]' if index else ''}{'.T' if self.transpose else ''}"

    def box(self, shape: tuple[int, ...]) -> tuple[Range, Range | None]:
        """The rows and columns it holds of a tensor of ``shape``."""
        return (self.rows or (0, shape[0] if shape else 1),
                None if len(shape) < 2 else self.cols or (0, shape[1]))

    def shape_in(self, shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """The shape of the spec parameter this piece reads from a tensor of ``shape`` (``None``
        when its slices do not fit)."""
        if self.cols is not None and len(shape) != 2:
            return None
        for axis, block in ((0, self.rows), (1, self.cols)):
            if block is not None:
                if not shape or block[1] > shape[axis]:
                    return None
                shape = shape[:axis] + (block[1] - block[0],) + shape[axis + 1:]
        return shape[::-1] if self.transpose else shape


def parse_target(spec: str, target) -> Target:
    """The :class:`Target` of ``mapping[spec] = target``, or :class:`CompareError`."""
    match = _TARGET.match(target) if isinstance(target, str) else None
    blocks = None if match is None else _index(match["index"])
    if match is None or blocks is None:
        raise CompareError(f"mapping[{spec!r}] = {target!r} is not a parameter target; {MAPPING_HINT}")
    return Target(match["path"], *blocks, bool(match["T"]))


def _index(text: str | None):
    """``(rows, cols)`` of ``[rows]`` or ``[rows, cols]`` (``None`` for ``:``), or ``None``."""
    if text is None:
        return None, None
    parts = text.split(",")
    if len(parts) > 2:
        return None
    blocks = []
    for part in parts:
        match = _RANGE.match(part)
        if match is None:
            return None
        start, stop = (int(match[k]) if match[k] else None for k in ("start", "stop"))
        if start is not None and stop is not None and start >= stop:
            return None
        blocks.append(None if start is None and stop is None else (start, stop))
    return (*blocks, None) if len(blocks) == 1 else tuple(blocks)


def place(spec: str, target: Target, tensor: tuple[int, ...] | None, spec_shape: tuple[int, ...] | None,
          how: str = "given") -> Piece:
    """``target`` as a :class:`Piece`: an open end of a slice runs to the end of ``tensor``
    (Python's slicing), or, where the tensor's shape is not known (a step function's
    ``params``), as far as ``spec_shape`` reaches."""
    extent = None if spec_shape is None else (spec_shape[::-1] if target.transpose else spec_shape)
    blocks = []
    for axis, block in ((0, target.rows), (1, target.cols)):
        if block is None:
            blocks.append(None)
            continue
        start = block[0] or 0
        if block[1] is not None:
            stop = block[1]
        elif tensor is not None and len(tensor) > axis:
            stop = tensor[axis]
        elif tensor is not None:
            raise CompareError(f"mapping[{spec!r}]: the slice does not fit {target.path} {tensor}; {MAPPING_HINT}")
        elif extent is not None and len(extent) > axis:
            stop = start + extent[axis]
        else:
            raise CompareError(f"mapping[{spec!r}]: the slice {start}: of {target.path} has no end; give [a:b]")
        if stop <= start:
            raise CompareError(f"mapping[{spec!r}]: the slice {start}:{stop} of {target.path} is empty")
        blocks.append((start, stop))
    return Piece(spec, target.path, blocks[0], target.transpose, how, blocks[1])


def grid(pieces, shape: tuple[int, ...]) -> list[list[Piece]] | None:
    """``pieces`` of one tensor of ``shape`` as rows of a grid of blocks that tile it, each
    entry held once, or ``None`` when they do not."""
    boxes = {piece: piece.box(shape) for piece in pieces}
    rows = sorted({box[0] for box in boxes.values()})
    cols = sorted({box[1] for box in boxes.values()}, key=lambda c: c or (0, 0))
    extents = (shape[0] if shape else 1, shape[1] if len(shape) > 1 else None)
    for ranges, extent in ((rows, extents[0]), (cols, extents[1])):
        if extent is None:
            continue
        if not ranges or ranges[0][0] != 0 or ranges[-1][1] != extent or any(
                a[1] != b[0] for a, b in zip(ranges, ranges[1:])):
            return None
    cells = {box: piece for piece, box in boxes.items()}
    if len(cells) != len(boxes) or len(cells) != len(rows) * len(cols):
        return None
    return [[cells[(r, c)] for c in cols] for r in rows]


@dataclass(frozen=True)
class ParameterMap:
    """Every user tensor as spec parameters: the ``pieces``, the tensors set to ``zeros``,
    and each tensor's shape (``module_shapes``, by path)."""

    pieces: tuple[Piece, ...]
    zeros: tuple[str, ...]
    module_shapes: Mapping[str, tuple[int, ...]]

    def held(self, path: str) -> list[list[Piece]]:
        """The pieces of tensor ``path`` as the rows of their grid."""
        return grid([p for p in self.pieces if p.path == path], self.module_shapes[path]) or []

    def tensors(self, params: Mapping) -> dict:
        """``{path: tensor}`` built from the spec's ``params`` (torch tensors; the result is
        differentiable with respect to them)."""
        import torch

        out = {}
        for path, shape in self.module_shapes.items():
            if path in self.zeros:
                reference = next(iter(params.values()))
                out[path] = torch.zeros(shape, dtype=reference.dtype, device=reference.device)
                continue
            bands = [[params[p.spec].T if p.transpose else params[p.spec] for p in band] for band in self.held(path)]
            bands = [band[0] if len(band) == 1 else torch.cat(band, dim=1) for band in bands]
            out[path] = bands[0] if len(bands) == 1 else torch.cat(bands)
        return out

    def to_dict(self) -> dict[str, str]:
        """``{spec parameter: target}`` (a mapping ``compare`` accepts back)."""
        return {p.spec: p.target for p in self.pieces}

    def text(self) -> str:
        """Each tensor as spec parameters on one line: ``weight_hh = [W_hr; W_hz; W_hn] (torch
        layout), gate.weight = [W_f, U_f] (given), lin.weight = Uᵀ (by name)`` (rows of blocks
        separated by ``;``, column blocks by ``,``); a step function's parameters passed under
        their own names are summed up at the end."""
        parts, own = [], 0
        for path in self.module_shapes:
            bands = self.held(path)
            if path in self.zeros:
                parts.append(f"{path} = 0 (torch adds it to another)")
            elif len(bands) == 1 and len(bands[0]) == 1 and bands[0][0].how == "own name":
                own += 1
            elif bands:
                blocks = "; ".join(", ".join(p.spec + ("ᵀ" if p.transpose else "") for p in band) for band in bands)
                single = len(bands) == 1 and len(bands[0]) == 1
                parts.append(f"{path} = {blocks if single else f'[{blocks}]'} ({bands[0][0].how})")
        if own:
            parts.append(f"{'the other ' if parts else ''}{own} parameter{'s' * (own > 1)} under the spec's names")
        return ", ".join(parts)
