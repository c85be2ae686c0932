"""The public array layer: ``numeric.arrays(backend)``, ``arrays_of``, ``to_numpy``,
``convert``, ``BACKENDS`` and ``DTYPES`` — the one namespace per back-end that the kernels,
the trajectories and the verify layer's oracles compute with."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gatejac import numeric
from gatejac.symbolic import GatejacError

_COMMON = ["asarray", "to_numpy", "concat", "stack", "total", "qr", "svdvals", "transpose", "diagonal", "eye",
           "empty", "write_block_row", "dense_scope", "quietly", "sigmoid", "softplus", "tanh", "scalar"]


def test_backends_and_dtypes():
    assert numeric.BACKENDS == ("numpy", "torch")
    assert numeric.DTYPES == ("float64", "float32")


@pytest.mark.parametrize("backend", numeric.BACKENDS)
def test_each_backend_has_one_namespace_with_the_shared_names(backend):
    xp = numeric.arrays(backend)
    assert numeric.arrays(backend) is xp and xp.name == backend
    missing = [name for name in _COMMON if not hasattr(xp, name)]
    assert not missing
    assert set(vars(numeric.arrays("numpy"))) == set(vars(numeric.arrays("torch")))


@pytest.mark.parametrize("backend", numeric.BACKENDS)
@pytest.mark.parametrize("dtype", numeric.DTYPES)
def test_asarray_concat_total_stack(backend, dtype):
    xp = numeric.arrays(backend)
    a = xp.asarray([[1.0, 2.0], [3.0, 4.0]], dtype)
    assert xp.is_array(a) and str(a.dtype).endswith(dtype)
    assert tuple(xp.concat([a, a]).shape) == (2, 4)
    assert tuple(xp.stack([a, a, a]).shape) == (3, 2, 2)
    total = xp.total(a)
    assert tuple(total.shape) == (1,) and float(total[0]) == 10.0 and total.dtype == a.dtype
    np.testing.assert_array_equal(numeric.to_numpy(xp.transpose(a)), [[1.0, 3.0], [2.0, 4.0]])
    assert numeric.arrays_of(a) is xp


def test_to_numpy_and_convert():
    tensor = torch.ones(2, 3, dtype=torch.float64, requires_grad=True) * 2
    assert isinstance(numeric.to_numpy(tensor), np.ndarray) and numeric.to_numpy(tensor).sum() == 12.0
    np.testing.assert_array_equal(numeric.to_numpy([1.0, 2.0]), [1.0, 2.0])
    converted = numeric.convert({"a": np.zeros(3), "b": torch.ones(2, dtype=torch.float32)}, "torch", "float64")
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.float64 for v in converted.values())
    back = numeric.convert(converted, "numpy", "float32")
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in back.values())


def test_unknown_backend_and_dtype_are_clear_errors():
    with pytest.raises(GatejacError, match="tourch"):
        numeric.arrays("tourch")
    with pytest.raises(GatejacError, match="float16"):
        numeric.convert({"a": np.zeros(2)}, "numpy", "float16")


def test_quietly_silences_numpy_floating_point_warnings_only_inside():
    xp = numeric.arrays("numpy")
    with xp.quietly():
        assert np.log(np.zeros(1))[0] == -np.inf
    with pytest.warns(RuntimeWarning):
        np.log(np.zeros(1))


@pytest.mark.parametrize("backend", numeric.BACKENDS)
def test_batch_shape_is_the_common_shape_or_the_broadcast_one(backend):
    xp = numeric.arrays(backend)
    same = [xp.asarray(np.zeros((4, 3, n)), "float64") for n in (2, 5)]
    assert tuple(xp.batch_shape(*same)) == (4, 3)
    mixed = [xp.asarray(np.zeros(shape), "float64") for shape in ((4, 1, 2), (3, 5))]
    assert tuple(xp.batch_shape(*mixed)) == (4, 3)
    with pytest.raises(ValueError):  # one broadcasting rule for both back-ends (NumPy's, remembered)
        xp.batch_shape(xp.asarray(np.zeros((2, 1)), "float64"), xp.asarray(np.zeros((3, 1)), "float64"))


@pytest.mark.parametrize("backend", numeric.BACKENDS)
@pytest.mark.parametrize("shape, batch", [((6, 3), (6,)), ((2, 3, 4), (2, 3)), ((4,), ()), ((4,), (5,)),
                                          ((1, 4), (2, 5)), ((3, 1, 4), (3, 2))])
def test_flatten_batch_broadcasts_and_flattens_every_shape(backend, shape, batch):
    """``flatten_batch(v, batch)`` is ``v`` broadcast to ``batch + (size,)``, as ``(B, size)``:
    values already of the batch shape take a shortcut (no broadcast), the others broadcast."""
    xp = numeric.arrays(backend)
    rng = np.random.default_rng(0)
    value = rng.standard_normal(shape)
    flat = xp.flatten_batch(xp.asarray(value, "float64"), batch)
    expected = np.broadcast_to(value, batch + shape[-1:]).reshape(-1, shape[-1])
    np.testing.assert_array_equal(numeric.to_numpy(flat), expected)
    assert tuple(flat.shape) == expected.shape


@pytest.mark.parametrize("backend", numeric.BACKENDS)
@pytest.mark.parametrize("dtype", numeric.DTYPES)
def test_large_dense_outputs_start_a_cache_line(backend, dtype):
    """Outputs of 1 MiB and more start a cache line whatever malloc gave: every array of mmap
    size comes 16 bytes past a page from malloc, so a plain ``np.empty`` fails this."""
    from gatejac.numeric._arrays import ALIGN_FROM_BYTES, CACHE_LINE
    from gatejac.symbolic import cells

    kernel = numeric.compile(cells.get("multi_gate"), backend)
    values = numeric.random_values(kernel.cell, {"n": 32, "m": 8}, batch=(256,), seed=0, dtype=dtype, backend=backend)
    results = [kernel.state_jacobian(*values) for _ in range(4)]  # kept alive: four distinct blocks of memory
    for result in results:
        array = numeric.to_numpy(result) if backend == "torch" else result
        assert array.nbytes >= ALIGN_FROM_BYTES and array.ctypes.data % CACHE_LINE == 0
        assert array.flags.c_contiguous and array.flags.writeable
        again = kernel.state_jacobian(*values, out=result)  # an output kept from the kernel takes out=
        assert again is result
    np.testing.assert_array_equal(numeric.to_numpy(results[0]), numeric.to_numpy(results[3]))


def test_aligned_empty_shapes_and_small_arrays():
    from gatejac.numeric._arrays import ALIGN_FROM_BYTES, CACHE_LINE, aligned_empty

    for dtype in (np.float64, np.float32, np.complex128, np.dtype("V48")):
        big = aligned_empty((3, 2**17), dtype)
        assert big.shape == (3, 2**17) and big.dtype == dtype and big.ctypes.data % CACHE_LINE == 0
        assert big.flags.c_contiguous and big.flags.writeable
        assert big.base.nbytes - big.nbytes == CACHE_LINE  # the line of slack, no more
    big[...] = np.zeros(1, big.dtype)  # writable over its whole extent
    small = aligned_empty((4, 4), np.float64)
    assert small.base is None and small.nbytes < ALIGN_FROM_BYTES  # np.empty's own array, not a view
    assert aligned_empty((0, 2**21), np.float64).shape == (0, 2**21)
