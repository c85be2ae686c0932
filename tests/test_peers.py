"""``benchmarks/peers.py`` (gatejac against JAX and torch.func) runs, and its equality check bites.

The quick mode runs on the smallest size in a fresh interpreter so that the script cannot rot;
it needs JAX (the optional extra ``bench``) and is skipped with the reason when JAX is absent.
"""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "peers.py"


def _peers():
    spec = importlib.util.spec_from_file_location("gatejac_bench_peers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_times_every_peer_at_the_smallest_size():
    pytest.importorskip("jax", reason="JAX is not installed (the optional extra 'bench'); peers.py needs it")
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--sizes", "4", "--batch", "8"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| gru_torch | 4 |")]
    assert len(rows) == 2, done.stdout
    for row in rows:
        fields = [f.strip() for f in row.strip("|").split("|")]
        # gatejac out=, gatejac, jax jacfwd, jax jacrev, torch vmap(jacrev), torch vmap(jacfwd): all timed
        assert all(re.fullmatch(r"\d+\.\d\d", f) for f in fields[3:9]), row
    assert "differs from gatejac" not in done.stdout


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_equality_check_catches_a_wrong_jacobian(dtype):
    peers = _peers()
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((3, 5, 5))
    assert peers.disagreement(reference.astype(dtype), reference, dtype) is None
    wrong = reference.copy()
    wrong[1, 2, 3] += 1e-3  # one entry off, far above float32 round-off
    assert "differs from gatejac" in peers.disagreement(wrong.astype(dtype), reference, dtype)
    assert "shape" in peers.disagreement(reference[:, :4], reference, dtype)
