"""Array back-ends the generated kernels call through the name ``_B``.

The code generator emits one source text per cell; binding ``_B`` to :data:`NUMPY` or to
:func:`torch_backend` gives the NumPy or the torch kernel.  Every function here works on
arrays with any leading batch dimensions; a vector has shape ``(..., size)`` and a scalar
value shape ``(..., 1)``, so scalars broadcast against vectors.

Numerically, NumPy's σ is computed from e = exp(−|x|) ∈ (0, 1], which never overflows:
σ(x) = 1/(1 + e) for x ≥ 0 and e/(1 + e) for x < 0 (within 2 ulp of the exact value over
the whole real line; half the time of ``exp(−logaddexp(0, −x))``: 1.7 against 3.6 ms for
256×256 float64 values); softplus(x) = log(1 + e^{x}) is ``logaddexp(0, x)``, accurate over
the whole line.  torch uses ``torch.sigmoid`` and ``logaddexp`` (its ``softplus`` switches
to the identity above a threshold, which is not round-off exact).
On complex NumPy arrays (complex-step differentiation) the analytic formulas are used.

``write_block_row(out, rows, *segments)`` writes the blocks Σ_k diag(u_k)·M_k + diag(d) of
one block row, each segment ``(cols, coefficients, matrices, diagonals)``, in one pass with
the numba kernel of ``_fused``: for NumPy, and for torch when the tensors are plain CPU
tensors that autograd does not need to track (``.numpy()`` shares their memory).  Torch
blocks that autograd must record, that live on another device or inside a ``torch.func``
transform, and block rows smaller than :data:`FUSED_MIN_BYTES`, are written term by term
with array operations instead.

``dense_scope()`` is the context the dense Jacobian kernels run in (large outputs only: see
``CompiledCell._dense``).  For NumPy it limits the BLAS library (OpenBLAS) to one thread
(for the whole process, while any thread is inside it): after a multi-threaded matrix product OpenBLAS's
idle threads keep spinning for about 0.1 s, and two of them on a 2-core machine halve the
cores left to the fused writer (measured: a three-term block row at B = n = 256 right after a
product took 25 ms instead of 13 ms).  The
products of a dense kernel are a few (B, n)·(n, n) GEMMs, a small part of its time.
torch runs its products on its own thread pool, which does not hold the cores, so its
scope does nothing.
"""

from __future__ import annotations

import contextlib
import math
import threading
import types

import numpy as np


def _numpy_namespace() -> types.SimpleNamespace:
    def sigmoid(x):
        if np.iscomplexobj(x):  # complex-step differentiation: the analytic continuation
            return 1.0 / (1.0 + np.exp(-x))
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0, e) / (1.0 + e)

    def softplus(x):
        if np.iscomplexobj(x):
            return np.log1p(np.exp(x))
        return np.logaddexp(0.0, x)

    def scalar(value, like):
        return np.reshape(np.asarray(value, dtype=like.dtype), (1,)) if np.ndim(value) == 0 else value

    def add_product(block, a, b):
        block += a * b

    def write_block_row(out, rows, *segments):
        if _small_block_row(out, rows):
            _write_block_row_by_terms(namespace, out, rows, segments)
            return
        from . import _fused

        _fused.write_block_row(out, rows, [_fused.Segment(*segment) for segment in segments])

    namespace = types.SimpleNamespace(
        name="numpy",
        chunk_bytes=2**20,  # blocks the fused writer does not take are written in cache-sized chunks
        tanh=np.tanh, exp=np.exp, log=np.log, sqrt=np.sqrt, abs=np.abs, sign=np.sign, sin=np.sin, cos=np.cos,
        sigmoid=sigmoid, softplus=softplus, scalar=scalar,
        eye=lambda n, like: np.eye(n, dtype=like.dtype),
        ones=lambda n, like: np.ones(n, dtype=like.dtype),
        expand=lambda v, batch: np.broadcast_to(v, tuple(batch) + np.shape(v)[-1:]).copy(),
        empty=lambda shape, like: np.empty(shape, dtype=like.dtype),
        batch_shape=lambda *arrays: np.broadcast_shapes(*(a.shape[:-1] for a in arrays)),
        diagonal=lambda block: np.einsum("...ii->...i", block),
        assign_product=lambda block, a, b: np.multiply(a, b, out=block),
        add_product=add_product,
        write_block_row=write_block_row,
        dense_scope=_serial_blas,
        fill_zero=lambda block: block.fill(0),
        dot=lambda u, v: np.sum(u * v, axis=-1, keepdims=True),
        outer_sum=lambda c, v: _outer_sum(np, c, v),
        sum_to=lambda c, shape: np.sum(c, axis=tuple(range(c.ndim - len(shape)))).reshape(shape),
        reshape=np.reshape,
        flatten_batch=lambda v, batch: np.broadcast_to(v, tuple(batch) + v.shape[-1:]).reshape(-1, v.shape[-1]),
        transpose=lambda m: np.swapaxes(m, -1, -2),
    )
    return namespace


FUSED_MIN_BYTES = 2**21
"""Block rows of fewer output bytes are written term by term: below this the fused loop's
fixed cost (packing its inputs, starting its threads: about 0.15 ms) is more than it saves."""


def _small_block_row(out, rows: slice) -> bool:
    return out.shape[0] * (rows.stop - rows.start) * out.shape[-1] * out.itemsize < FUSED_MIN_BYTES


def dense_scope_needed(shape: tuple, itemsize: int) -> bool:
    """Whether a dense output of ``shape`` is large enough for the fused writer (and so for
    ``dense_scope``): smaller outputs have only small block rows."""
    return math.prod(shape) * itemsize >= FUSED_MIN_BYTES


def _write_block_row_by_terms(backend, out, rows, segments) -> None:
    for segment in segments:
        _write_block_by_terms(backend, out, rows, *segment)


def _write_block_by_terms(backend, out, rows, cols, coefficients, matrices, diagonals):
    """``out[:, rows, cols] = Σ_k diag(c_k)·M_k + diag(Σ_l d_l)``, one term at a time."""
    block = out[:, rows, cols]
    if coefficients:
        backend.assign_product(block, coefficients[0][..., :, None], matrices[0])
        for coefficient, matrix in zip(coefficients[1:], matrices[1:]):
            backend.add_product(block, coefficient[..., :, None], matrix)
    else:
        backend.fill_zero(block)
    if diagonals:
        diagonal = backend.diagonal(block)
        for value in diagonals:
            diagonal += value


def _outer_sum(xp, c, v):
    """Σ over batch of c vᵀ, as one GEMM on the flattened batch (O(B·(n+k)) memory)."""
    batch = tuple(xp.broadcast_shapes(c.shape[:-1], v.shape[:-1]))
    rows = xp.broadcast_to(c, batch + tuple(c.shape[-1:])).reshape(-1, c.shape[-1])
    cols = xp.broadcast_to(v, batch + tuple(v.shape[-1:])).reshape(-1, v.shape[-1])
    return rows.T @ cols


class _SerialBlas:
    """The NumPy ``dense_scope``: BLAS at one thread while any thread is inside it.

    The BLAS thread count is process-wide, so the scope counts its entrants under a lock:
    the first one sets the limit, the last one restores what it found."""

    def __init__(self):
        self._lock = threading.Lock()
        self._inside = 0
        self._limit = None
        self._controller = None  # threadpoolctl's view of the loaded libraries, made on first use

    def __call__(self):
        return self

    def __enter__(self):
        with self._lock:
            if self._inside == 0:
                if self._controller is None:
                    from threadpoolctl import ThreadpoolController

                    self._controller = ThreadpoolController()
                self._limit = self._controller.limit(limits=1, user_api="blas")
            self._inside += 1
        return self

    def __exit__(self, *exc_info):
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                self._limit.restore_original_limits()
                self._limit = None


_serial_blas = _SerialBlas()
NUMPY = _numpy_namespace()
_TORCH = None


def torch_backend() -> types.SimpleNamespace:
    """The torch namespace (imported on first use, so ``import numeric`` stays torch-free)."""
    global _TORCH
    if _TORCH is None:
        _TORCH = _torch_namespace()
    return _TORCH


def _torch_namespace() -> types.SimpleNamespace:
    import torch

    NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}

    def needs_graph(*tensors) -> bool:
        """Whether autograd must record operations on ``tensors`` (reverse or forward mode)."""
        if torch.autograd.forward_ad._current_level >= 0:
            return True
        return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)

    def assign_product(block, a, b):
        fused = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and not needs_graph(a, b)
        if fused and torch.broadcast_shapes(a.shape, b.shape) == block.shape:
            torch.mul(a, b, out=block)
        else:  # broadcasts a smaller product over the block (and keeps autograd's graph)
            block.copy_(a * b)

    def add_product(block, a, b):
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            block.addcmul_(a, b)
        else:
            block.add_(a * b)

    def plain_cpu(value) -> bool:
        """A plain float CPU tensor numba may write through ``.numpy()`` (or a Python number):
        no autograd graph to record, no subclass, conjugate or negative view, no functorch
        wrapper."""
        if not isinstance(value, torch.Tensor):
            return True
        return (type(value) is torch.Tensor and value.device.type == "cpu"
                and value.dtype in (torch.float32, torch.float64) and not value.is_conj() and not value.is_neg()
                and not torch._C._functorch.is_functorch_wrapped_tensor(value) and not needs_graph(value))

    def recording() -> bool:
        """Tracing or compiling: torch must see every write as a torch op."""
        return torch.jit.is_tracing() or torch.compiler.is_compiling()

    def write_block_row(out, rows, *segments):
        values = [out] + [v for _, *lists in segments for values in lists for v in values]
        if _small_block_row(out, rows) or recording() or not all(map(plain_cpu, values)):
            _write_block_row_by_terms(namespace, out, rows, segments)
            return
        from . import _fused

        def to_numpy(values):
            return [v.detach().numpy() if isinstance(v, torch.Tensor) else v for v in values]

        fused = [_fused.Segment(cols, *map(to_numpy, lists)) for cols, *lists in segments]
        _fused.write_block_row(out.detach().numpy(), rows, fused)
        torch.autograd.graph.increment_version(out)  # as an in-place op would: saved copies of out are stale

    def empty(shape, like):
        """A new output; on the CPU allocated by NumPy, which asks the kernel for huge pages, so
        first writing a 134 MB Jacobian costs 11 ms instead of 66 ms (B = n = 256, float64)."""
        if like.device.type == "cpu" and like.dtype in NUMPY_DTYPES and not torch._C._functorch.is_functorch_wrapped_tensor(like):
            return torch.from_numpy(np.empty(shape, dtype=NUMPY_DTYPES[like.dtype]))
        return torch.empty(shape, dtype=like.dtype, device=like.device)

    def scalar(value, like):
        if isinstance(value, torch.Tensor) and value.ndim > 0:
            return value
        return torch.as_tensor(value, dtype=like.dtype, device=like.device).reshape(1)

    def sum_to(c, shape):
        return c.sum(dim=tuple(range(c.ndim - len(shape)))).reshape(shape) if c.ndim > len(shape) else c.reshape(shape)

    namespace = types.SimpleNamespace(
        name="torch",
        chunk_bytes=2**22,  # larger than NumPy's: each torch op has a thread-pool start-up cost
        tanh=torch.tanh, exp=torch.exp, log=torch.log, sqrt=torch.sqrt, abs=torch.abs, sign=torch.sign, sin=torch.sin,
        cos=torch.cos,
        sigmoid=torch.sigmoid, softplus=lambda x: torch.logaddexp(torch.zeros_like(x), x), scalar=scalar,
        eye=lambda n, like: torch.eye(n, dtype=like.dtype, device=like.device),
        ones=lambda n, like: torch.ones(n, dtype=like.dtype, device=like.device),
        expand=lambda v, batch: v.expand(tuple(batch) + v.shape[-1:]),
        empty=empty,
        batch_shape=lambda *arrays: torch.broadcast_shapes(*(a.shape[:-1] for a in arrays)),
        diagonal=lambda block: torch.diagonal(block, 0, -2, -1),
        assign_product=assign_product,
        add_product=add_product,
        write_block_row=write_block_row,
        dense_scope=contextlib.nullcontext,
        fill_zero=lambda block: block.zero_(),
        dot=lambda u, v: (u * v).sum(dim=-1, keepdim=True),
        outer_sum=lambda c, v: _outer_sum(torch, c, v),
        sum_to=sum_to,
        reshape=torch.reshape,
        flatten_batch=lambda v, batch: v.expand(tuple(batch) + v.shape[-1:]).reshape(-1, v.shape[-1]),
        transpose=lambda m: m.transpose(-1, -2),
    )
    return namespace
