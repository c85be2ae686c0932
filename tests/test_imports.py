"""The layering of the package: ``symbolic`` ← ``numeric`` ← ``verify``, and heavy imports only on demand
(numba and SciPy, which numba imports, only once a dense Jacobian needs the fused writer, and then on a
background thread while the first block rows are written with NumPy)."""

import json
import subprocess
import sys
import threading

import pytest


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


@pytest.mark.parametrize("statement, absent", [
    ("import gatejac.symbolic", {"numpy", "torch"}),
    ("import gatejac.symbolic.cells", {"numpy", "torch"}),
    ("import gatejac.numeric", {"torch", "numba", "scipy"}),
    ("from gatejac import numeric; from gatejac.symbolic import cells; numeric.compile(cells.get('gru_torch'), 'numpy')",
     {"torch", "numba", "scipy"}),
])
def test_heavy_modules_load_only_when_needed(statement, absent):
    assert not absent & _loaded_after(statement)


_FIRST_DENSE_CALL = """
import json, sys, threading
from gatejac import numeric
from gatejac.numeric import _fused_loading
from gatejac.symbolic import cells
if {numba_first}:
    from gatejac.numeric import _fused
kernel = numeric.compile(cells.get("gru_torch"), {backend!r})
values = numeric.random_values(cells.get("gru_torch"), {{"n": {n}, "m": 5}}, batch=({batch},), seed=1, backend={backend!r})
first = numeric.to_numpy(kernel.state_jacobian(*values)).copy()
loaders = [t for t in threading.enumerate() if t.name == "gatejac-numba-loader"]
_fused_loading.loader.wait()
from gatejac.numeric import _fused
kernels = (_fused._write_rows, _fused._write_rows_serial, _fused._write_narrow)
loaded = [len(k.signatures) for k in kernels]
later = numeric.to_numpy(kernel.state_jacobian(*values))
json.dump({{"numpy_rows": _fused_loading.loader.numpy_block_rows, "daemon": [t.daemon for t in loaders],
           "same_bits": first.tobytes() == later.tobytes(), "numba": "numba" in sys.modules,
           "loaded": loaded, "used": [len(k.signatures) for k in kernels]}}, sys.stdout)
"""

KERNELS = ("parallel", "serial", "narrow")
"""The fused writer's kernels (``_fused``): on numba's threads, on the calling thread, and on the
calling thread for matrices of at most 16 KiB."""


def _first_dense_call(backend: str, numba_first: bool, n: int = 48, batch: int = 128) -> dict:
    code = _FIRST_DENSE_CALL.format(backend=backend, numba_first=numba_first, n=n, batch=batch)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("n, batch, used", [
    (48, 128, "parallel"),  # the GRU's state block row is 2.25 MiB
    (48, 16, "serial"),  # 288 KiB, three 48 × 48 matrices (54 KiB)
    (16, 64, "narrow"),  # 128 KiB, three 16 × 16 matrices (6 KiB)
])
def test_a_first_dense_jacobian_is_written_with_numpy_while_numba_loads_and_has_its_bits(backend, n, batch, used):
    """numeric/_fused_loading.py: the first fused-size block row of a process starts numba on a
    (non-daemon) background thread and is written by ``_fused_numpy``; after the loader has
    finished the same Jacobian comes from the numba kernel with the same bits, the kernel the
    loader loaded (the call compiles no new signature)."""
    seen = _first_dense_call(backend, False, n, batch)
    assert seen["numpy_rows"] >= 1 and seen["daemon"] == [False]
    assert seen["numba"] and seen["same_bits"]
    index = KERNELS.index(used)
    assert seen["used"][index] == seen["loaded"][index] == 1
    assert seen["used"] == seen["loaded"]


def test_a_process_that_imported_the_kernel_never_starts_the_loader():
    seen = _first_dense_call("numpy", numba_first=True)
    assert seen["numpy_rows"] == 0 and seen["daemon"] == [] and seen["same_bits"]


def test_a_child_forked_while_the_loader_runs_starts_its_own():
    from gatejac.numeric import _fused_loading

    loader = _fused_loading._Loader()
    loader._thread = threading.Thread(target=lambda: None)  # a loader under way in the parent
    assert not loader.ready("float64", True) and loader.numpy_block_rows == 1
    loader.restart_in_child()
    assert loader._thread is None and loader.numpy_block_rows == 0
    done = _fused_loading._Loader()
    done.finished = True
    done.restart_in_child()
    assert done.finished  # a finished loader stays finished


def test_the_torch_backend_loads_torch():
    assert "torch" in _loaded_after("from gatejac import numeric; from gatejac.symbolic import cells; numeric.compile(cells.get('leaky'), 'torch')")


HEAVY_FOR_THE_COMMAND_LINE = {"numpy", "torch", "gatejac.numeric", "gatejac.verify._reproduce"}
"""What building ``gatejac``'s parser must not import: a subcommand's options that need them are
added only when it is used (verify._cli_arguments.DeferredParser)."""


def _command_line_loads(*argv: str) -> set[str]:
    """The modules loaded once ``gatejac ARGV`` (run in a fresh interpreter) has finished."""
    code = (f"import sys; from gatejac.verify._cli import main; code = main({list(argv)!r}); "
            "print(' '.join(sorted(sys.modules)), file=sys.stderr); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return set(result.stderr.split())


@pytest.mark.parametrize("argv", [("--version",), ("list",), ("--help",), ("reproduce", "--help")])
def test_the_command_line_starts_without_numpy_torch_or_a_reproduction(argv):
    loaded = _command_line_loads(*argv)
    assert "gatejac.verify._cli_reproduce" in loaded  # the whole parser was built
    assert not HEAVY_FOR_THE_COMMAND_LINE & loaded


def test_a_subcommand_imports_what_its_options_need_when_it_is_used():
    """The check above can fail: the options of ``reproduce expansion`` come from its module."""
    loaded = _command_line_loads("reproduce", "expansion", "--help")
    assert {"numpy", "gatejac.verify._reproduce", "gatejac.verify._reproduce_expansion"} <= loaded
    assert "gatejac.verify._reproduce_slow_modes" not in loaded
