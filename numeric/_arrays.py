"""The array namespaces: one per back-end, used by the generated kernels (which call it
``_B``), the trajectory engine and the verify layer's oracles.

``arrays("numpy")`` / ``arrays("torch")`` return the namespace of a back-end (torch is
imported on the first request, so ``import gatejac.numeric`` stays torch-free);
``arrays_of(value)`` the namespace of an array's kind; ``to_numpy(value)`` turns a tensor (or
anything array-like) into a NumPy array; ``convert(values, backend, dtype)`` turns a dict of
arrays into arrays of one back-end and dtype.

Every function works on arrays with any leading batch dimensions; a vector has shape
``(..., size)`` and a scalar value shape ``(..., 1)``, so scalars broadcast against vectors.
What a namespace holds (the two back-ends agree on every name):

* identity: ``name`` ("numpy" or "torch"), ``chunk_bytes`` (batch chunk size of blocks written
  term by term), ``is_array(value)``, ``eps(like)`` (machine ε of ``like``'s dtype);
* conversion: ``asarray(x, dtype)`` (numbers, NumPy arrays or tensors → this back-end in the
  dtype named, e.g. "float64"; may share memory with ``x``), ``to_numpy(x)``,
  ``scalar(value, like)`` (a number → shape ``(1,)`` in ``like``'s dtype and device);
* elementwise: ``tanh exp log sqrt abs sign sin cos sinh sigmoid softplus where clip``;
* creation: ``eye(n, like)``, ``ones(n, like)``, ``ones_like(a)``, ``empty(shape, like)``;
* shapes: ``batch_shape(*arrays)`` (broadcast shape of all but the last axis),
  ``broadcast_to``, ``broadcast_shapes``, ``expand(v, batch)``, ``flatten_batch(v, batch)``
  (→ ``(B, size)``), ``reshape``, ``transpose`` (last two axes), ``diagonal`` (a writable view
  of the last two axes' diagonal), ``stack(arrays)`` (new leading axis), ``concat(parts)``
  (along the last axis);
* reductions: ``dot(u, v)`` (uᵀv over the last axis, kept as ``(..., 1)``), ``total(x)``
  (the sum of every entry, shape ``(1,)``), ``sum_rows`` (over the second-to-last axis),
  ``sum_to(c, shape)`` (over leading batch axes), ``outer_sum(c, v)`` (Σ_batch c vᵀ),
  ``max_abs(a)`` (a float), ``all_finite(a)`` (a bool), ``max_last(a)`` (the maximum over the
  last axis), ``sort_descending`` (last axis);
* linear algebra: ``qr`` (reduced) and ``svdvals`` (singular values, descending) of the last
  two axes; ``products(*pairs, out=None)`` → ``[a @ b for a, b in pairs]`` (the dense kernels' batch
  products: NumPy's on two threads where it pays, see ``_parallel_products``; torch's are torch's);
* kernel writes: ``assign_product(block, a, b)`` (block = a·b), ``add_product`` (block += a·b),
  ``fill_zero``, ``write_block_row`` and ``dense_scope`` (see ``_blockrow``);
* the dense kernels' forward in owned buffers (``_lowering``): ``workspace(like, sizes, values)``, the
  calling thread's (B, size) buffers or None (torch: always None), and ``ufuncs``, the in-place
  elementwise operations ``f(operands..., out=buffer)`` (see ``_workspace``);
* ``numpy_views_of(values)``: the NumPy views of ``values`` (numbers as they are), or None where
  a view would lose something — always the arrays themselves for NumPy; for torch, views of
  plain float CPU tensors, answered by ``Tensor.numpy`` itself, which refuses tensors autograd
  tracks and conjugate, negative, functorch-wrapped and non-CPU ones (0.7 µs a tensor), and
  None under forward-mode AD, tracing and compiling.  Under ``torch.no_grad()`` (or
  ``inference_mode``) a tensor with ``requires_grad`` is viewed, as ``Tensor.numpy`` allows:
  autograd records nothing there, so the torch operations would give the same untracked
  values.  ``nn.Parameter`` (a module's weights) is viewed as a plain tensor is — it disables
  ``__torch_function__``, so torch runs its operations exactly as a plain tensor's, and
  ``Tensor.numpy`` refuses it where autograd tracks it — any other ``torch.Tensor`` subclass
  (``UninitializedParameter`` included) is not: it may override operations;
* ``numpy_views(values)``: whether ``numpy_views_of(values)`` gives views — the same answer,
  for callers that take the views later (the kernels' block-row writer asks it too);
* ``quietly()``: a context in which overflow, division by zero and invalid operations give
  inf / nan without a warning (NumPy; torch never warns), for callers that handle them.

Numerically, NumPy's σ is 1/(1 + e^{−x}) with the overflow of e^{−x} silenced: within 2 ulp
of the exact value wherever σ(x) is a normal number (relative error ≤ ε·e^{−x}/(1 + e^{−x}) from
the exponential, plus the addition and the division), and 0 where e^{−x} overflows (x below
≈ −709.8 in float64, −88.7 in float32), where the exact σ is below the smallest normal number.
It is 1.6× faster than the branch-free form from e^{−|x|} (0.58 against 0.93 ms for 256×256
float64 values) and a quarter of the time of ``exp(−logaddexp(0, −x))``.
softplus(x) = log(1 + e^{x}) is ``logaddexp(0, x)``, accurate over the whole line.  torch uses ``torch.sigmoid`` and ``logaddexp`` (its ``softplus`` switches
to the identity above a threshold, which is not round-off exact).
On complex NumPy arrays (complex-step differentiation) the analytic formulas are used.

Inside a ``torch.func`` transform (``vmap``, ``grad``, ``jacrev`` ...) the torch namespace
takes no ``out=`` fast path and allocates outputs that the transform can batch.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import operator
import types

import numpy as np

from gatejac.symbolic import unknown_name

from . import _blockrow, _parallel_products, _workspace

BACKENDS = ("numpy", "torch")
"""The array back-ends a cell compiles for."""

DTYPES = ("float64", "float32")
"""The floating dtypes the kernels take (by name)."""

_NAMESPACES: dict[str, types.SimpleNamespace] = {}


def arrays(backend: str) -> types.SimpleNamespace:
    """The array namespace of ``backend`` ("numpy" or "torch"; see the module docstring)."""
    if backend not in _NAMESPACES:
        check_backend(backend)
        _NAMESPACES[backend] = _numpy_namespace() if backend == "numpy" else _torch_namespace()
    return _NAMESPACES[backend]


def check_backend(backend) -> None:
    """An error naming ``backend`` and the choices unless it is one of :data:`BACKENDS`."""
    if backend not in BACKENDS:
        raise unknown_name("backend", backend, list(BACKENDS))


def check_dtype(dtype) -> None:
    """An error naming ``dtype`` and the choices unless it is one of :data:`DTYPES`."""
    if dtype not in DTYPES:
        raise unknown_name("dtype", dtype, list(DTYPES), "(pass the dtype's name as a string)")


def arrays_of(value) -> types.SimpleNamespace:
    """The namespace of ``value``'s kind: torch for a tensor, NumPy for anything else."""
    return arrays("torch" if _is_tensor(value) else "numpy")


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith("torch")  # no torch import to ask


def to_numpy(value) -> np.ndarray:
    """``value`` as a NumPy array: a tensor detached and copied to the CPU, anything else
    through ``np.asarray``."""
    if _is_tensor(value):
        return value.detach().cpu().resolve_conj().resolve_neg().numpy()
    return np.asarray(value)


def convert(values: dict, backend: str, dtype: str) -> dict:
    """``{name: array}`` with every value as an array of ``backend`` in ``dtype`` (a name
    from :data:`DTYPES`)."""
    xp = arrays(backend)
    check_dtype(dtype)
    return {name: xp.asarray(value, dtype) for name, value in values.items()}


def _outer_sum(xp, c, v):
    """Σ over batch of c vᵀ, as one GEMM on the flattened batch (O(B·(n+k)) memory)."""
    batch = _broadcast_shapes(tuple(c.shape[:-1]), tuple(v.shape[:-1]))
    rows = xp.broadcast_to(c, batch + tuple(c.shape[-1:])).reshape(-1, c.shape[-1])
    cols = xp.broadcast_to(v, batch + tuple(v.shape[-1:])).reshape(-1, v.shape[-1])
    return rows.T @ cols



@functools.lru_cache(maxsize=4096)
def _broadcast_shapes(*shapes) -> tuple:
    """The broadcast of ``shapes`` (tuples or ``torch.Size``), remembered: every back-end
    broadcasts shapes through this, never through ``torch.broadcast_shapes``, which is pure
    Python (``torch._refs._broadcast_shapes`` took 14 ms of an 87 ms torch trajectory run)."""
    return tuple(np.broadcast_shapes(*shapes))


def _batch_shape(*arrays) -> tuple:
    """The broadcast shape of all but the last axis of ``arrays``: the common shape directly
    when they agree (every call of a kernel in a loop), else :func:`_broadcast_shapes`."""
    first = tuple(arrays[0].shape[:-1])
    if all(tuple(a.shape[:-1]) == first for a in arrays[1:]):
        return first
    return _broadcast_shapes(*(tuple(a.shape[:-1]) for a in arrays))


CACHE_LINE = 64
"""Bytes of a cache line: :func:`aligned_empty` starts a new output on one."""

ALIGN_FROM_BYTES = 2**20
"""Outputs of at least this many bytes (1 MiB) are cache-line aligned; below, aligning cost the
allocating kernels more than the writes saved."""


def aligned_empty(shape: tuple, dtype, align_from: int = ALIGN_FROM_BYTES) -> np.ndarray:
    """A new uninitialised NumPy array of ``shape`` and ``dtype``; from ``align_from`` bytes on
    (:data:`ALIGN_FROM_BYTES` unless given), its first element starts a cache line
    (:data:`CACHE_LINE` bytes).

    ``np.empty`` returns what ``malloc`` gives: 16 bytes past a line for every array of
    ``mmap`` size, anywhere on a 16-byte boundary on the heap.  Off a line, each row of 16
    float64 (128 bytes) spans three lines instead of two, and a dense Jacobian written there
    took longer than one written into an aligned array (single-thread CPU minima, B = 256,
    ``out=`` into an array 16 bytes past a line / on one: multi_gate n = 16 float64 0.136 /
    0.131 ms, LSTM n = 16 float64 0.371 / 0.366 ms, leaky n = 64 float64 0.702 / 0.667 ms,
    multi_gate n = 64 float64 0.741 / 0.690 ms; the jit kernels of ``numeric.compile(...,
    jit=True)``, which spend their time writing: leaky n = 16 float64 0.0447 / 0.0419–0.0429 ms,
    n = 64 float32 0.165 / 0.148–0.153 ms).  An allocating kernel thus writes at the same speed
    in every process instead of at whatever offset ``malloc`` picked, and an ``out=`` a caller
    keeps from one is aligned too.  The alignment (asking ctypes for the address) costs about
    1 µs a call; with it from 256 KiB on, the allocating NumPy kernels at n = 16 (0.25–0.5 MiB)
    were 1–4% slower than with ``np.empty`` in 7 of 8 rows (leaky float32 0.0693 against
    0.0670 ms, multi_gate float32 0.1029 against 0.0989 ms), so smaller outputs are left as
    ``malloc`` places them.  The jit kernels of ``numeric.compile(..., jit=True)`` pass
    ``align_from=0`` (``numeric/_jit_loading.py: JitKernel``): their 32-byte vector stores run
    0.6–1.7 µs (2–5 %) slower into an array 16 bytes past a 32-byte boundary at n = 16 (leaky
    float32 and float64, multi_gate float64, B = 256), where ``malloc`` puts every other one."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < align_from:
        return np.empty(shape, dtype)
    raw = np.empty(nbytes + CACHE_LINE, np.uint8)
    return np.ndarray(shape, dtype, raw, -ctypes.addressof(ctypes.c_char.from_buffer(raw)) % CACHE_LINE)


def _flatten_batch(v, batch: tuple, broadcast):
    """``v`` broadcast to ``batch + (size,)`` and flattened to ``(B, size)``.  A value that has
    the batch shape already (every call of a kernel on states of one shape) is only reshaped:
    ``broadcast_to`` took 2.8 µs of NumPy's Python a call, twice per dense kernel call."""
    if tuple(v.shape[:-1]) != tuple(batch):
        v = broadcast(v, tuple(batch) + tuple(v.shape[-1:]))
    return v if v.ndim == 2 else v.reshape(-1, v.shape[-1])


def _numpy_namespace() -> types.SimpleNamespace:
    def sigmoid(x):
        if np.iscomplexobj(x):  # complex-step differentiation: the analytic continuation
            return 1.0 / (1.0 + np.exp(-x))
        with np.errstate(over="ignore"):  # e^{-x} = inf below x ≈ -709.78 gives σ = 0 there
            return 1.0 / (1.0 + np.exp(-x))

    def softplus(x):
        if np.iscomplexobj(x):
            return np.log1p(np.exp(x))
        return np.logaddexp(0.0, x)

    def scalar(value, like):
        return np.reshape(np.asarray(value, dtype=like.dtype), (1,)) if np.ndim(value) == 0 else value

    def asarray(x, dtype):
        return np.asarray(to_numpy(x), dtype=dtype)

    def add_product(block, a, b):
        block += a * b

    def write_block_row(out, rows, *segments):
        if _blockrow.small_block_row(out, rows):
            _blockrow.write_by_terms(namespace, out, rows, segments)
        else:
            _blockrow.write_fused(out, rows, segments)

    namespace = types.SimpleNamespace(
        name="numpy",
        chunk_bytes=2**20,  # blocks the fused writer does not take are written in cache-sized chunks
        is_array=lambda a: isinstance(a, np.ndarray),
        eps=lambda like: float(np.finfo(like.dtype).eps),
        asarray=asarray, to_numpy=to_numpy, scalar=scalar,
        tanh=np.tanh, exp=np.exp, log=np.log, sqrt=np.sqrt, abs=np.abs, sign=np.sign, sin=np.sin, cos=np.cos,
        sinh=np.sinh, sigmoid=sigmoid, softplus=softplus, where=np.where, clip=np.clip,
        eye=lambda n, like: np.eye(n, dtype=like.dtype),
        ones=lambda n, like: np.ones(n, dtype=like.dtype),
        ones_like=np.ones_like,
        empty=lambda shape, like: aligned_empty(shape, like.dtype),
        batch_shape=_batch_shape,
        broadcast_to=np.broadcast_to,
        broadcast_shapes=_broadcast_shapes,
        expand=lambda v, batch: np.broadcast_to(v, tuple(batch) + np.shape(v)[-1:]).copy(),
        flatten_batch=lambda v, batch: _flatten_batch(v, batch, np.broadcast_to),
        reshape=np.reshape,
        transpose=operator.attrgetter("mT") if hasattr(np.ndarray, "mT") else (lambda m: np.swapaxes(m, -1, -2)),
        diagonal=lambda block: np.einsum("...ii->...i", block),
        stack=lambda arrays: np.stack(list(arrays), axis=0),
        concat=lambda parts: np.concatenate(list(parts), axis=-1),
        dot=lambda u, v: np.sum(u * v, axis=-1, keepdims=True),
        total=lambda x: np.reshape(np.sum(x), (1,)),
        sum_rows=lambda a: np.sum(a, axis=-2),
        sum_to=lambda c, shape: np.sum(c, axis=tuple(range(c.ndim - len(shape)))).reshape(shape),
        outer_sum=lambda c, v: _outer_sum(np, c, v),
        max_abs=lambda a: float(np.max(np.abs(a))) if a.size else 0.0,
        all_finite=lambda a: bool(np.all(np.isfinite(a))),
        max_last=lambda a: np.max(a, axis=-1),
        sort_descending=lambda a: -np.sort(-a, axis=-1),
        qr=np.linalg.qr,
        svdvals=lambda a: np.linalg.svd(a, compute_uv=False),
        products=_parallel_products.products,
        assign_product=lambda block, a, b: np.multiply(a, b, out=block),
        add_product=add_product,
        fill_zero=lambda block: block.fill(0),
        write_block_row=write_block_row,
        dense_scope=_blockrow.serial_blas,
        workspace=_workspace.workspace,
        ufuncs=_workspace.ufuncs,
        quietly=lambda: np.errstate(over="ignore", divide="ignore", invalid="ignore"),
        numpy_views=lambda values: True,  # numpy_views_of gives the arrays themselves
        numpy_views_of=list,
    )
    return namespace


def _torch_namespace() -> types.SimpleNamespace:
    import torch

    NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
    transformed = torch._C._functorch.is_functorch_wrapped_tensor

    def needs_graph(*tensors) -> bool:
        """Whether autograd must record operations on ``tensors`` (reverse or forward mode)."""
        if torch.autograd.forward_ad._current_level >= 0:
            return True
        return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)

    def assign_product(block, a, b):
        fused = (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and not needs_graph(a, b)
                 and not any(map(transformed, (block, a, b))))
        if fused and _broadcast_shapes(tuple(a.shape), tuple(b.shape)) == tuple(block.shape):
            torch.mul(a, b, out=block)
        else:  # broadcasts a smaller product over the block (and keeps autograd's and torch.func's view)
            block.copy_(a * b)

    def add_product(block, a, b):
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and not transformed(block):
            block.addcmul_(a, b)  # torch.func has no batching rule for addcmul_
        else:
            block.add_(a * b)

    def recording() -> bool:
        """Tracing or compiling: torch must see every write as a torch op."""
        return torch.jit.is_tracing() or torch.compiler.is_compiling()

    viewable = (torch.Tensor, torch.nn.Parameter)  # nn.Parameter disables __torch_function__: a plain tensor's ops

    def numpy_views_of(values):
        """See the module docstring.  Forward-mode dual tensors give ``.numpy()`` their primal
        without a word, so any forward-AD level, like tracing, answers None."""
        if torch.autograd.forward_ad._current_level >= 0 or recording():
            return None
        views = []
        for value in values:
            if isinstance(value, torch.Tensor):
                if type(value) not in viewable or value.dtype not in NUMPY_DTYPES:
                    return None  # another subclass (it may override operations) or a dtype NumPy has no view of
                try:
                    value = value.numpy()
                except (RuntimeError, TypeError):  # grad, conjugate, negative, no storage (functorch), not on the CPU
                    return None
            views.append(value)
        return views

    def write_block_row(out, rows, *segments):
        values = [out] + [v for _, *lists in segments for values in lists for v in values]
        views = None if _blockrow.small_block_row(out, rows) else numpy_views_of(values)
        if views is None:
            _blockrow.write_by_terms(namespace, out, rows, segments)
            return
        viewed = iter(views[1:])
        arrays = [(cols, *([next(viewed) for _ in values] for values in lists)) for cols, *lists in segments]
        _blockrow.write_fused(views[0], rows, arrays)
        torch.autograd.graph.increment_version(out)  # as an in-place op would: saved copies of out are stale

    def empty(shape, like):
        """A new output; on the CPU allocated by NumPy, which asks the kernel for huge pages, so
        first writing a 134 MB Jacobian costs 11 ms instead of 66 ms (B = n = 256, float64).
        Inside a ``torch.func`` transform: zeros derived from ``like``, which the transform
        batches as it batches ``like`` (a fresh tensor would be one unbatched array)."""
        if transformed(like):
            return torch.zeros_like(like).sum().expand(shape).clone()
        if like.device.type == "cpu" and like.dtype in NUMPY_DTYPES:
            return torch.from_numpy(aligned_empty(shape, NUMPY_DTYPES[like.dtype]))
        return torch.empty(shape, dtype=like.dtype, device=like.device)

    def scalar(value, like):
        if isinstance(value, torch.Tensor) and value.ndim > 0:
            return value
        return torch.as_tensor(value, dtype=like.dtype, device=like.device).reshape(1)

    def asarray(x, dtype):
        if isinstance(x, torch.Tensor):
            return x.to(getattr(torch, dtype))
        return torch.as_tensor(np.asarray(x), dtype=getattr(torch, dtype))

    def sum_to(c, shape):
        return c.sum(dim=tuple(range(c.ndim - len(shape)))).reshape(shape) if c.ndim > len(shape) else c.reshape(shape)

    namespace = types.SimpleNamespace(
        name="torch",
        chunk_bytes=2**22,  # larger than NumPy's: each torch op has a thread-pool start-up cost
        is_array=lambda a: isinstance(a, torch.Tensor),
        eps=lambda like: float(torch.finfo(like.dtype).eps),
        asarray=asarray, to_numpy=to_numpy, scalar=scalar,
        tanh=torch.tanh, exp=torch.exp, log=torch.log, sqrt=torch.sqrt, abs=torch.abs, sign=torch.sign,
        sin=torch.sin, cos=torch.cos, sinh=torch.sinh, sigmoid=torch.sigmoid,
        softplus=lambda x: torch.logaddexp(torch.zeros_like(x), x), where=torch.where, clip=torch.clamp,
        eye=lambda n, like: torch.eye(n, dtype=like.dtype, device=like.device),
        ones=lambda n, like: torch.ones(n, dtype=like.dtype, device=like.device),
        ones_like=torch.ones_like,
        empty=empty,
        batch_shape=_batch_shape,
        broadcast_to=torch.broadcast_to,
        broadcast_shapes=_broadcast_shapes,
        expand=lambda v, batch: v.expand(tuple(batch) + v.shape[-1:]),
        flatten_batch=lambda v, batch: _flatten_batch(v, batch, torch.Tensor.expand),
        reshape=torch.reshape,
        transpose=operator.attrgetter("mT"),  # no Python frame per call
        diagonal=lambda block: torch.diagonal(block, 0, -2, -1),
        stack=lambda arrays: torch.stack(list(arrays), dim=0),
        concat=lambda parts: torch.cat(list(parts), dim=-1),
        dot=lambda u, v: (u * v).sum(dim=-1, keepdim=True),
        total=lambda x: x.sum().reshape(1),
        sum_rows=lambda a: torch.sum(a, dim=-2),
        sum_to=sum_to,
        outer_sum=lambda c, v: _outer_sum(torch, c, v),
        max_abs=lambda a: float(a.detach().abs().max()) if a.numel() else 0.0,
        all_finite=lambda a: bool(torch.all(torch.isfinite(a))),
        max_last=lambda a: torch.amax(a, dim=-1),
        sort_descending=lambda a: torch.sort(a, dim=-1, descending=True).values,
        qr=torch.linalg.qr,
        svdvals=torch.linalg.svdvals,
        products=lambda *pairs, out=None: [a @ b for a, b in pairs],  # out: NumPy's workspace only
        assign_product=assign_product,
        add_product=add_product,
        fill_zero=lambda block: block.zero_(),
        write_block_row=write_block_row,
        dense_scope=contextlib.nullcontext,
        workspace=lambda like, sizes, values: None,  # the forward as written: autograd and torch.func see every operation
        ufuncs=None,
        quietly=contextlib.nullcontext,
        numpy_views=lambda values: numpy_views_of(values) is not None,
        numpy_views_of=numpy_views_of,
    )
    return namespace
