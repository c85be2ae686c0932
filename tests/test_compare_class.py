"""An implementation given as a class (``verify.compare(cell, GRUCell)``, ``gatejac compare
spec.py:cell impl.py:Class``, ``gatejac report spec.py:cell --impl impl.py:Class``).

gatejac builds it with no arguments when the constructor allows it, else from the sizes its
constructor's parameters are named after; otherwise the error names what the constructor needs
and how to pass an instance or a factory instead.  The sizes each test expects are the ones it
passes (or ``verify.check``'s defaults), read back from the built module's parameters.  A module
that cannot be copied (compare calls a float64 copy) is an error saying why, not a traceback.
"""

from pathlib import Path

import pytest
import torch

from gatejac import verify
from gatejac.verify._cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "wrong_gate"
DEFAULTS = {"n": 4, "m": 3}  # verify.check's default sizes, which compare takes too


def test_a_torch_class_is_built_from_the_sizes_by_torchs_parameter_names():
    result = verify.compare("gru_torch", torch.nn.GRUCell)
    assert result.passed, result.to_text()
    assert result.sizes == DEFAULTS and result.implementation == "GRUCell"
    given = verify.compare("lstm_torch", torch.nn.LSTMCell, sizes={"n": 5, "m": 2})
    assert given.passed and given.sizes == {"n": 5, "m": 2}


class _Elman(torch.nn.Module):
    """Elman's step with the spec's parameter names; the constructor takes the spec's size names."""

    def __init__(self, n, m):
        super().__init__()
        self.W, self.U, self.b = (torch.nn.Parameter(torch.zeros(*shape)) for shape in ((n, n), (n, m), (n,)))

    def forward(self, x, h):
        return torch.tanh(h @ self.W.T + x @ self.U.T + self.b)


class _ElmanOwnSizes(_Elman):
    def __init__(self, n=6, m=2):
        super().__init__(n, m)


class _ElmanWithGain(_Elman):
    def __init__(self, n, m, gain):
        super().__init__(n, m)


class _ElmanThatRaises(_Elman):
    def __init__(self, hidden_size):
        raise RuntimeError("no weights file")


def test_a_class_whose_parameters_are_the_size_names_is_built_from_them():
    result = verify.compare("elman", _Elman, sizes={"n": 3, "m": 2})
    assert result.passed, result.to_text()
    assert result.sizes == {"n": 3, "m": 2}


def test_a_class_that_needs_no_arguments_is_built_with_none():
    result = verify.compare("elman", _ElmanOwnSizes)
    assert result.passed and result.sizes == {"n": 6, "m": 2}  # its own defaults, not compare's


def test_a_constructor_gatejac_cannot_fill_is_an_error_saying_what_it_needs():
    with pytest.raises(verify.CompareError) as caught:
        verify.compare("elman", _ElmanWithGain)
    message = str(caught.value)
    assert "_ElmanWithGain(n, m, gain) needs gain" in message
    assert "n (= 4), m (= 3), hidden_size (= 4), input_size (= 3)" in message
    assert "_ElmanWithGain(...)" in message and "def implementation()" in message


def test_a_constructor_that_raises_is_an_error_naming_the_call():
    with pytest.raises(verify.CompareError, match=r"_ElmanThatRaises\(hidden_size=4\) raised RuntimeError: no weights"):
        verify.compare("elman", _ElmanThatRaises)


def test_the_command_line_builds_a_class_and_still_checks_it(capsys):
    spec, impl = f"{EXAMPLE / 'mgu.py'}:cell", f"{EXAMPLE / 'mgu_torch.py'}"
    mapping = ["--mapping", "W_f=forget_h.weight", "--mapping", "U_f=forget_x.weight", "--mapping", "b_f=forget_x.bias",
               "--mapping", "W_h=candidate_h.weight", "--mapping", "U_h=candidate_x.weight",
               "--mapping", "b_h=candidate_x.bias"]
    assert main(["compare", spec, f"{impl}:MGU", *mapping]) == 0
    assert "your MGU against cell" in capsys.readouterr().out
    assert main(["compare", spec, f"{impl}:MGUWrongCandidate", *mapping]) == 1  # built, compared, caught
    assert "first diverging intermediate is h_tilde" in capsys.readouterr().out


def test_a_report_with_a_class_gatejac_cannot_build_stops_before_any_work(capsys, tmp_path):
    module = tmp_path / "needs.py"
    module.write_text("import torch\n\nclass Needs(torch.nn.Module):\n    def __init__(self, hidden_size, beta):\n"
                      "        super().__init__()\n")
    code = main(["report", "elman", "--impl", f"{module}:Needs", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "Needs(hidden_size, beta) needs beta" in err
    assert not (tmp_path / "r").exists()


def test_a_module_that_cannot_be_copied_is_an_error_saying_why():
    import threading

    module = torch.nn.RNNCell(3, 4)
    module.lock = threading.Lock()  # compare calls a float64 copy; a lock cannot be copied
    with pytest.raises(verify.CompareError, match=r"cannot copy your RNNCell: copy.deepcopy raised TypeError.*lock"):
        verify.compare("elman", module)
