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
