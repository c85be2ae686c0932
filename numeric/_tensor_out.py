"""What the dense kernels get wrong of an ``out=``, or torch refuses, checked on every call of
``CompiledCell._dense`` before a kernel runs (a remembered argument signature says nothing of
these).  On the torch back-end :func:`check_tensor_out`, before either of its routes — the torch
kernels or the NumPy kernels on NumPy views of the same memory (see
``numeric.TORCH_THROUGH_NUMPY_BELOW``); on the NumPy back-end :func:`check_array_out` for the
default kernels, while the whole-kernel numba ones of ``compile(..., jit=True)`` test it inside
their function (``numeric/_jit_codegen.py``) and raise :func:`overlap_error` too; an ``out=`` of
``parameter_jacobian`` for a module's stacked tensor, which a copy fills, :func:`check_copied_out`.
Every kernel reads its values while it writes ``out``: an ``out`` on a value's memory gave
Jacobians off by up to 0.5 (13 of the 39 catalogue cells, NumPy and jit routes, ``out`` on a
weight matrix)."""

from __future__ import annotations

from itertools import repeat

import numpy as np

from ._errors import ArgumentError


def check_tensor_out(order: list, values: list, out, views) -> None:
    """Raise ``ArgumentError`` for a dense ``out=`` tensor torch refuses or the kernels get wrong:
    an inference tensor outside ``torch.inference_mode`` (torch allows it no in-place write
    there); a value or ``out`` autograd tracks while grad mode is on (torch's ``out=``
    operations record no graph; not looked for when ``views``, NumPy views of ``values`` and of
    ``out`` last, exist: then none is); ``out`` sharing memory with a value, which the kernels
    read while they write ``out`` (both routes returned Jacobians off by up to 0.5 for an
    ``out`` on a weight matrix's memory, or torch raised).  ``order``: the names of ``values``.
    Without it the route through NumPy would write what torch would not.  On plain tensors
    (CPU time, load 2.6) 2.4 µs a call for leaky's 6 values and 4.7 µs for gru_torch's 14,
    mostly the memory check: about 2 % of their state Jacobians' 105 and 215 µs at n = 16,
    B = 256."""
    _check_inference(out)
    if views is None and _torch().is_grad_enabled():
        names = [name for name, value in zip([*order, "out"], [*values, out])
                 if isinstance(value, _torch().Tensor) and value.requires_grad]
        if names:
            raise ArgumentError(
                f"out= is written without an autograd graph (torch's out= operations record none), but "
                f"{', '.join(names)} requires grad; omit out (the result then carries the graph), or call under "
                "torch.no_grad() when no gradient is wanted"
            )
    if views is not None:  # the NumPy views the route through NumPy computes with: the NumPy rule
        check_array_out(order, views[:-1], views[-1])
        return
    overlapping = [name for name, value in zip(order, values) if _overlap(value, out)]
    if overlapping:
        raise overlap_error(overlapping)


def check_copied_out(out) -> None:
    """Raise ``ArgumentError`` for an ``out=`` tensor that torch refuses to copy a result into:
    an inference tensor outside ``torch.inference_mode``, or a leaf tensor that requires grad
    while grad mode is on (torch's own RuntimeError before).  What ``parameter_jacobian`` of a
    module's stacked tensor checks: it makes the blocks' Jacobians apart and copies them into
    ``out`` with a torch operation, which autograd records (values it tracks are no error) and
    which reads no value while it writes (no overlap to look for)."""
    _check_inference(out)
    if out.is_leaf and out.requires_grad and _torch().is_grad_enabled():
        raise ArgumentError(
            "out is a leaf tensor that requires grad, which torch allows no in-place write while grad mode is on; "
            "pass a tensor that does not require grad (e.g. out.detach()), call under torch.no_grad(), or omit out"
        )


def _check_inference(out) -> None:
    """An inference tensor (made under ``torch.inference_mode``) outside that mode: torch allows
    it no in-place write."""
    if out.is_inference() and not _torch().is_inference_mode_enabled():
        raise ArgumentError(
            "out is an inference tensor (made under torch.inference_mode), which torch allows no in-place "
            "write outside that mode; call under torch.inference_mode(), pass a tensor made outside it, or omit out"
        )


def overlap_error(shared: list) -> ArgumentError:
    """The error for an ``out`` that shares memory with the values named ``shared``."""
    return ArgumentError(
        f"out shares memory with {', '.join(shared)}, which the kernels read while they write out; pass an "
        "out= no value lives in (e.g. a result kept from an earlier call), or omit out"
    )


def check_array_out(order: list, values: list, out) -> None:
    """Raise :func:`overlap_error` when NumPy array ``out`` shares memory with a value (names
    ``order``).  ``np.may_share_memory`` (bounds only, one C call per value, mapped over them
    by ``map``, a number is no array's memory) screens; ``np.shares_memory`` confirms, so that a
    value interleaved with ``out`` but disjoint from it (e.g. every other element of the buffer
    ``out`` is cut from) is accepted.  CPU time, one thread, minima side by side: 1.1 µs a call
    for leaky's 6 values, 3.1 µs for lstm_torch's 19 (1.5 and 4.4 µs with a Python loop over the
    values; under 1 % of their NumPy state Jacobians at n = 16, B = 256).  Reading the values'
    addresses for a byte-range test in Python costs more: ``__array_interface__`` 1.1 µs and
    ``ctypes.data`` 1.0 µs an array, ``np.may_share_memory`` 0.2 µs."""
    if any(map(np.may_share_memory, repeat(out), values)):
        shared = [name for name, value in zip(order, values)
                  if isinstance(value, np.ndarray) and np.shares_memory(out, value)]
        if shared:
            raise overlap_error(shared)


def _overlap(value, out) -> bool:
    """Whether tensor ``value`` and tensor ``out`` may share memory: the byte ranges their
    elements span on one device intersect (meta tensors have no memory; ``torch.func``'s
    wrappers show none, and torch checks their writes itself)."""
    if not isinstance(value, _torch().Tensor) or value.device != out.device or out.device.type == "meta":
        return False
    spans = []
    for tensor in (value, out):
        if tensor.numel() == 0:
            return False
        try:
            start = tensor.data_ptr()
        except RuntimeError:  # "Cannot access data pointer of Tensor that doesn't have storage"
            return False
        spans.append((start, start + tensor.element_size() * (1 + sum((size - 1) * stride for size, stride in
                                                                        zip(tensor.shape, tensor.stride())))))
    return spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]


def _torch():
    """torch, imported by a torch tensor's call (never by ``import gatejac.numeric``)."""
    import torch

    return torch
