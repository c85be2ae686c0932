"""The layering of the package: ``symbolic`` ← ``numeric`` ← ``verify``, and heavy imports only on demand."""

import subprocess
import sys

import pytest


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


@pytest.mark.parametrize("statement, absent", [
    ("import gatejac.symbolic", {"numpy", "torch"}),
    ("import gatejac.symbolic.cells", {"numpy", "torch"}),
    ("import gatejac.numeric", {"torch"}),
    ("from gatejac import numeric; from gatejac.symbolic import cells; numeric.compile(cells.get('gru_torch'), 'numpy')", {"torch"}),
])
def test_heavy_modules_load_only_when_needed(statement, absent):
    assert not absent & _loaded_after(statement)


def test_the_torch_backend_loads_torch():
    assert "torch" in _loaded_after("from gatejac import numeric; from gatejac.symbolic import cells; numeric.compile(cells.get('leaky'), 'torch')")
