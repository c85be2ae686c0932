"""Loading the whole-kernel numba functions of ``_jit_codegen``, and calling them like the NumPy kernels.

numba's disk cache (``cache=True``) needs a function defined in a source file, so the
generated source is written to ``<cache>/jit/gatejac_jit_<hash>.py`` (``<cache>`` the per-user
directory of ``_numba_cache``, the hash that of the source: a changed derivation or code
generator gets a new file) and imported from there.  numba compiles each kernel on its first
call for a dtype and stores the machine code beside the file; a later process with the same
source loads it instead (``benchmarks/per_call.py --jit`` reports both times).  When the
directory cannot be written the file goes to a fresh temporary directory (no disk cache).

:class:`JitKernel` takes the NumPy kernels' arguments (states and inputs ``(..., size)`` with
batch dimensions that broadcast, parameters unbatched, scalars as numbers or 0-d arrays) and
``out=``, so ``CompiledCell`` calls it in their place after the same checks.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from gatejac.symbolic import SCALAR

from ._arrays import aligned_empty
from ._errors import CompileError
from ._fused import STREAM_MIN_BYTES
from ._jit_codegen import KERNELS
from ._numba_cache import cache_directory
from ._tensor_out import overlap_error


def _module_file(source: str) -> Path:
    """The file holding ``source``, written (atomically: a concurrent process sees it whole
    or not at all) unless it is already there."""
    name = f"gatejac_jit_{hashlib.sha256(source.encode()).hexdigest()[:24]}.py"
    for directory in (cache_directory() / "jit", None):
        try:
            directory = Path(tempfile.mkdtemp(prefix="gatejac-jit-")) if directory is None else directory
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / name
            if not path.exists() or path.read_text() != source:
                handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
                with os.fdopen(handle, "w") as stream:
                    stream.write(source)
                os.replace(temporary, path)
            return path
        except OSError:
            continue
    raise CompileError("cannot write the jit kernels' source file; set GATEJAC_CACHE_DIR to a writable directory")


def load(source: str):
    """The imported module of ``source`` (see the module docstring)."""
    path = _module_file(source)
    if path.stem in sys.modules:
        return sys.modules[path.stem]
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[path.stem] = module
    return module


class JitKernel:
    """A dense Jacobian kernel of the jit module, called as the NumPy kernel ``name`` is:
    ``kernel(*values, out=None)`` with the values in kernel order (already checked by
    ``CompiledCell``).  ``vectors``: how many leading values are states and inputs;
    ``rows``/``columns``: the positions of the values whose sizes add up to the rows and
    columns; ``scalars``: positions of the scalar parameters; ``names``: the values' names."""

    checks_out = True
    """It refuses an ``out`` on a value's memory itself (``CompiledCell`` checks the other kernels')."""

    def __init__(self, module, name: str, vectors: int, rows: list, columns: list, scalars: list, names: list):
        self.name, self._names = name, names
        self._functions = {np.dtype(np.float64): getattr(module, f"{name}__f64"),
                           np.dtype(np.float32): getattr(module, f"{name}__f32")}
        self._vectors, self._rows, self._columns, self._scalars = vectors, rows, columns, scalars
        self._arrays = [k for k in range(vectors, len(names)) if k not in scalars]

    def __call__(self, *values, out=None):
        """The kernel on ``values``.  Values numba takes as they are — states and inputs
        ``(B, size)`` of one batch, C-contiguous parameters — are passed unchanged (a check of
        each array's flags costs less than a conversion that returns it; 4.7–7.5 µs of Python a
        call before); anything else is broadcast, flattened and made contiguous first.  A new
        output starts on a cache line at every size (``aligned_empty(..., align_from=0)``).  An
        ``out`` sharing memory with a value the function reads is refused by the function itself,
        before it writes (see ``_jit_codegen``), with ``ArgumentError`` naming the value."""
        values = list(values)
        first = values[0]
        dtype, batch = first.dtype, first.shape[:-1]
        vectors = values[:self._vectors]
        for v in vectors:
            if v.shape[:-1] != batch:
                batch = np.broadcast_shapes(*(v.shape[:-1] for v in vectors))
                break
        for k, v in enumerate(vectors):
            if v.ndim != 2 or v.shape[:-1] != batch or not v.flags.c_contiguous:
                if v.shape[:-1] != batch:
                    v = np.broadcast_to(v, batch + v.shape[-1:])
                values[k] = np.ascontiguousarray(v.reshape(-1, v.shape[-1]))
        for k in self._scalars:
            values[k] = np.asarray(values[k], dtype).reshape(1)
        for k in self._arrays:
            if not values[k].flags.c_contiguous:
                values[k] = np.ascontiguousarray(values[k])
        if out is None:
            rows = sum([values[k].shape[-1] for k in self._rows])
            columns = sum([values[k].shape[-1] for k in self._columns])
            out = aligned_empty(batch + (rows, columns), dtype, align_from=0)
            target = out.reshape(-1, rows, columns)
        else:  # its shape checked by CompiledCell
            target = out if out.ndim == 3 else out.reshape((-1,) + out.shape[-2:])
        if self._functions[dtype](*values, target, out.nbytes >= STREAM_MIN_BYTES):
            raise overlap_error([name for name, value in zip(self._names, values) if np.shares_memory(out, value)])
        return out


class RefusedKernel:
    """A kernel ``_jit_codegen`` could not write: calling it says why."""

    def __init__(self, cell: str, name: str, reason: str):
        self.message = (f"numeric.compile(..., jit=True) has no whole-kernel {name} for cell {cell!r}: {reason} "
                        "is not of a form the jit writer handles (see numeric._jit_codegen); compile with jit=False")

    def __call__(self, *values, out=None):
        raise CompileError(self.message)


def jit_kernels(cell, source: str, refused: dict) -> dict:
    """``{kernel: JitKernel or RefusedKernel}`` for the dense kernels of ``cell`` in ``source``."""
    pieces = [*cell.states, *cell.inputs, *cell.parameters]
    position = {p.name: k for k, p in enumerate(pieces)}
    vectors = len(cell.states) + len(cell.inputs)
    scalars = [k for k, p in enumerate(pieces) if k >= vectors and getattr(p, "size", 0) is SCALAR]
    rows = [position[s.name] for s in cell.states]
    columns = {"input_jacobian": [position[x.name] for x in cell.inputs]}
    module = load(source) if any(f"def {name}__f64(" in source for name in KERNELS) else None
    kernels = {}
    for name in KERNELS:
        if name in refused:
            kernels[name] = RefusedKernel(cell.name, name, refused[name])
        elif f"def {name}__f64(" in source:
            kernels[name] = JitKernel(module, name, vectors, rows, columns.get(name, rows), scalars,
                                      [p.name for p in pieces])
    return kernels
