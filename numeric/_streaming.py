"""Streaming (non-temporal) stores for the fused writer, as numba intrinsics.

An ordinary store first reads the destination's cache line into the cache (read-for-ownership)
and writes it back later: writing an output far larger than the last-level cache (the GRU's
state Jacobian at B = n = 256 is 128 MiB in float64, the cache 32 MiB here) moves each byte
twice.  A streaming store writes whole lines without reading them.  numba does not expose
such stores, so :func:`_streaming_store` emits an LLVM ``store`` with ``!nontemporal`` metadata
(LLVM Language Reference, “store instruction”): a hint each target lowers in its own way
(``movntpd``/``movntps`` on x86, ``stnp`` on AArch64, an ordinary store where there is none),
so no target-specific intrinsic is emitted.  Streaming stores are weakly ordered: a task that
issued them ends with :func:`store_fence`, so the writes are visible to the thread that reads
the output after the parallel region.

:func:`stream_copy` copies a row kept in the first-level cache to the output: ordinary stores
up to the first :data:`VECTOR_BYTES`-aligned element, aligned vector streaming stores (whole cache
lines at once where the row covers them), then ordinary stores for the rest.  The values are
copied, not computed, so a row streamed out has the same bits as one stored in place
(``tests/test_streaming.py``).

Measured here (AMD EPYC, 2 cores, 128 MiB written from one 2 KiB row in the first-level cache,
minima): on two threads 4.7 ms with streaming stores, 9.9–13.0 ms with ordinary ones, against
4.1–4.7 ms for NumPy's and torch's ``fill`` (one thread); on one thread 4.8–5.0 against
5.2–7.3 ms.  ``_fused`` uses them for block rows far beyond the caches
(``_fused.STREAM_MIN_BYTES``); ``benchmarks/kernels.py --phases`` times its two paths side by
side.

numba's disk cache keys a kernel by its own source file only; gatejac's cache directory is keyed
by this file too (``_numba_cache.NUMBA_SOURCES``), so a change here recompiles the kernels that
inline it.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

VECTOR_BYTES = 16
"""Bytes per streaming store (a ``<2 x double>`` or ``<4 x float>``): NumPy aligns its
allocations to 16 bytes, so rows of an even number of float64 (a multiple of four float32) need
no ordinary stores at their ends.  Ordinary and streaming stores into one cache line cost more
than either: 64-byte stores into an output at 16 bytes past a line took 1.15× (float64) and 2.5×
(float32) the time of an aligned output, one thread."""

LINE_BYTES = 64
"""Bytes per streaming store where the destination is on a cache-line boundary (a ``<8 x double>``
or ``<16 x float>``; :func:`stream_copy`).  Against :data:`VECTOR_BYTES` stores throughout, the
fused writer's streamed block rows at B = n = 256 on two threads, medians side by side: GRU 0.91×
(float32) and 0.99× (float64), the LSTM 0.87–0.88×, multi-gate 0.93–1.00×."""


def _element_pointer(context, builder, array_type, array, index):
    """The address of ``array.flat[index]`` of a contiguous array."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [index])


def _streaming_store(nbytes: int):
    """An intrinsic ``(destination, position, source, start)`` storing
    ``source[start:start + L]`` at ``destination[position:position + L]``, L = nbytes / itemsize,
    as one vector store with ``!nontemporal`` metadata.  ``destination``'s element ``position``
    must be ``nbytes``-aligned (``source``'s need not be); both 1-D, of one dtype."""

    def typer(typingctx, destination, position, source, start):
        if destination.dtype != source.dtype or destination.ndim != 1 or source.ndim != 1:
            return None

        def codegen(context, builder, sig, args):
            element = context.get_data_type(sig.args[0].dtype)
            lanes = nbytes // context.get_abi_sizeof(element)
            vector = ir.VectorType(element, lanes).as_pointer()
            target = _element_pointer(context, builder, sig.args[0], args[0], args[1])
            origin = _element_pointer(context, builder, sig.args[2], args[2], args[3])
            value = builder.load(builder.bitcast(origin, vector), align=context.get_abi_sizeof(element))
            store = builder.store(value, builder.bitcast(target, vector), align=nbytes)
            store.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
            return context.get_dummy_value()

        return types.void(destination, position, source, start), codegen

    typer.__name__ = typer.__qualname__ = f"stream_{nbytes}_bytes"  # one name per intrinsic
    return intrinsic(typer)


stream_vector = _streaming_store(VECTOR_BYTES)
"""One streaming store of :data:`VECTOR_BYTES` (:func:`_streaming_store`)."""

stream_line = _streaming_store(LINE_BYTES)
"""One streaming store of a whole cache line, :data:`LINE_BYTES` (:func:`_streaming_store`)."""


@intrinsic
def element_address(typingctx, array, index):
    """The address of ``array[index]`` of a 1-D array, as an unsigned integer."""
    if not isinstance(array, types.Array) or array.ndim != 1:
        return None

    def codegen(context, builder, sig, args):
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.ptrtoint(pointer, context.get_value_type(types.uintp))

    return types.uintp(array, index), codegen


@intrinsic
def store_fence(typingctx):
    """Every earlier store, streaming ones included, visible to other threads before any later
    memory access: ``sfence`` on x86, the fence its manuals name for non-temporal stores (LLVM
    lowers a sequentially consistent fence to a locked ``or`` there), then a sequentially
    consistent fence (every target)."""
    def codegen(context, builder, sig, args):
        if builder.module.triple.startswith(("x86_64", "i386", "i686")):
            sfence = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                    "llvm.x86.sse.sfence")
            builder.call(sfence, [])
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen


@numba.njit(inline="always")
def stream_copy(destination, position, source):
    """``destination[position:position + len(source)] = source`` with streaming stores for the
    :data:`VECTOR_BYTES`-aligned part: ordinary stores up to the first :data:`VECTOR_BYTES`
    boundary, :data:`VECTOR_BYTES` stores up to the first cache line, :data:`LINE_BYTES` stores
    while whole lines remain, then :data:`VECTOR_BYTES` stores and ordinary ones for the rest
    (``destination``, ``source``: 1-D, contiguous)."""
    count = source.shape[0]
    itemsize = source.itemsize
    lanes, line = VECTOR_BYTES // itemsize, LINE_BYTES // itemsize
    lead = 0 if element_address(destination, position) % itemsize == 0 else count  # else never aligned
    while lead < count and element_address(destination, position + lead) % VECTOR_BYTES:
        lead += 1
    for j in range(lead):
        destination[position + j] = source[j]
    j = lead
    while j + lanes <= count and element_address(destination, position + j) % LINE_BYTES:
        stream_vector(destination, position + j, source, j)
        j += lanes
    while j + line <= count:
        stream_line(destination, position + j, source, j)
        j += line
    while j + lanes <= count:
        stream_vector(destination, position + j, source, j)
        j += lanes
    while j < count:
        destination[position + j] = source[j]
        j += 1
