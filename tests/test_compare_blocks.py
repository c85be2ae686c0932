"""``verify.compare`` with parameters that share one tensor as column blocks (a single
``nn.Linear`` over ``torch.cat([h, x])``), as row-and-column grids, and a step function whose
``params`` are packed the same way by ``mapping=``.

The spec is the Minimal Gated Unit of examples/wrong_gate/ (Zhou et al. 2016), ``f =
σ(W_f h + U_f x + b_f)``, ``h̃ = tanh(W_h (f ⊙ h) + U_h x + b_h)``.  A module that
concatenates in the other order than its mapping says must fail at the forward step, the gate
``f`` first — also when ``n = m`` and both orders fit the shapes.
"""

import pytest
import torch
from test_compare import MGU_SPEC

from gatejac import verify
from gatejac.symbolic import GatejacError, cells

MGU = MGU_SPEC.mgu().validate()


class ConcatenatedMGU(torch.nn.Module):
    """The MGU written as many do: one ``Linear`` per gate over ``torch.cat([h, x])`` (or
    ``[x, h]`` with ``order="xh"``)."""

    def __init__(self, m: int, n: int, order: str = "hx"):
        super().__init__()
        self.forget, self.candidate = torch.nn.Linear(n + m, n), torch.nn.Linear(n + m, n)
        self.order = order

    def _cat(self, h, x):
        return torch.cat([h, x] if self.order == "hx" else [x, h], dim=-1)

    def forward(self, x, h):
        f = torch.sigmoid(self.forget(self._cat(h, x)))
        h_tilde = torch.tanh(self.candidate(self._cat(f * h, x)))
        return {"h": (1 - f) * h + f * h_tilde, "f": f, "h_tilde": h_tilde}


def _column_mapping(n: int, prefix: str = "", weight: str = ".weight") -> dict:
    """h's columns first, as ``torch.cat([h, x])`` puts them (written from the forward above)."""
    return {"W_f": f"{prefix}forget{weight}[:, :{n}]", "U_f": f"{prefix}forget{weight}[:, {n}:]",
            "W_h": f"{prefix}candidate{weight}[:, :{n}]", "U_h": f"{prefix}candidate{weight}[:, {n}:]"}


@pytest.mark.parametrize("m, n", [(3, 4), (3, 3)])
def test_column_blocks_of_one_linear_map_and_pass(m, n):
    mapping = {**_column_mapping(n), "b_f": "forget.bias", "b_h": "candidate.bias"}
    result = verify.compare(MGU, ConcatenatedMGU(m, n), mapping=mapping)
    assert result.passed, result.to_text()
    assert result.sizes == {"n": n, "m": m}
    assert "forget.weight = [W_f, U_f] (given)" in result.to_text()
    assert result.mapping["U_f"] == f"forget.weight[:, {n}:{n + m}]"  # open ends resolved on the tensor


@pytest.mark.parametrize("m, n", [(3, 4), (3, 3)])
def test_swapped_column_blocks_fail_the_forward_step_at_the_gate(m, n):
    mapping = {**_column_mapping(n), "b_f": "forget.bias", "b_h": "candidate.bias"}
    result = verify.compare(MGU, ConcatenatedMGU(m, n, order="xh"), mapping=mapping)
    assert not result.stage("forward").passed
    assert (result.first_divergence.stage, result.first_divergence.name) == ("intermediates", "f")


def test_blocks_are_not_inferred_and_the_error_lists_them():
    with pytest.raises(verify.CompareError) as caught:
        verify.compare(MGU, ConcatenatedMGU(3, 4), mapping={"b_f": "forget.bias", "b_h": "candidate.bias"})
    message = str(caught.value)
    assert "W_f (4, 4): candidates none" in message
    assert "forget.weight[:, 0:4]" in message and "forget.weight[:, 3:7]" in message  # [W|U] or [U|W]
    assert "gate.weight[:, :4]" in message  # the hint shows how to give a column block


def test_the_one_block_the_given_ones_leave_is_inferred_but_only_where_one_tensor_fits():
    biases = {"b_f": "forget.bias", "b_h": "candidate.bias"}
    given = {k: v for k, v in _column_mapping(4).items() if k != "U_h"}
    result = verify.compare(MGU, ConcatenatedMGU(3, 4), mapping={**given, **biases})
    assert result.passed, result.to_text()
    assert result.mapping["U_h"] == "candidate.weight[:, 4:7]"  # the rest of the candidate's weight
    both_left = {k: v for k, v in given.items() if k != "U_f"}  # U_f and U_h fit either rest
    with pytest.raises(verify.CompareError) as caught:
        verify.compare(MGU, ConcatenatedMGU(3, 4), mapping={**both_left, **biases})
    assert "U_f (4, 3): candidates forget.weight[:, 4:7], candidate.weight[:, 4:7]" in str(caught.value)


@pytest.mark.parametrize("bad, word", [({"U_f": "forget.weight[:, 3:6]"}, "not filled"),  # overlaps W_f
                                       ({"U_f": "forget.weight[:, 5:2]"}, "not a parameter target"),
                                       ({"U_f": "forget.weight[:, ::2]"}, "not a parameter target"),
                                       ({"U_f": "forget.bias[:, 4:]"}, r"does not fit forget.bias \(4,\)")])
def test_blocks_that_do_not_tile_or_parse_are_errors(bad, word):
    mapping = {**_column_mapping(4), "b_f": "forget.bias", "b_h": "candidate.bias", **bad}
    with pytest.raises(verify.CompareError, match=word):
        verify.compare(MGU, ConcatenatedMGU(3, 4), mapping=mapping)


class FusedLSTM(torch.nn.Module):
    """An LSTM without biases from one ``Linear(m + n, 4n)`` over ``torch.cat([x, h])``."""

    def __init__(self, m: int, n: int):
        super().__init__()
        self.gates = torch.nn.Linear(m + n, 4 * n, bias=False)

    def forward(self, x, state):
        h, c = state
        i, f, g, o = self.gates(torch.cat([x, h], dim=-1)).chunk(4, dim=-1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c_new), c_new


def _grid_mapping(m: int, n: int, order: str = "ifgo") -> dict:
    """Row block k of gate ``order[k]``; x's columns first (torch's i, f, g, o order)."""
    mapping = {}
    for k, gate in enumerate(order):
        rows = f"{k * n}:{(k + 1) * n}"
        mapping |= {f"W_i{gate}": f"gates.weight[{rows}, :{m}]", f"W_h{gate}": f"gates.weight[{rows}, {m}:]"}
    return mapping


def test_a_grid_of_row_and_column_blocks_maps_and_a_swapped_row_block_is_caught():
    cell = cells.get("lstm_torch", bias=False)
    right = verify.compare(cell, FusedLSTM(3, 4), mapping=_grid_mapping(3, 4))
    assert right.passed, right.to_text()
    assert "gates.weight = [W_ii, W_hi; W_if, W_hf; W_ig, W_hg; W_io, W_ho] (given)" in right.to_text()
    swapped = verify.compare(cell, FusedLSTM(3, 4), mapping=_grid_mapping(3, 4, order="figo"))
    assert not swapped.stage("forward").passed


# --------------------------------------------------------------------------- step functions with mapping=
def packed_step(x, h, params):
    """The MGU with each gate's weights packed as one matrix over [h, x]."""
    f = torch.sigmoid(torch.cat([h, x], dim=-1) @ params["forget"].T + params["b_f"])
    h_tilde = torch.tanh(torch.cat([f * h, x], dim=-1) @ params["candidate"].T + params["b_h"])
    return {"h": (1 - f) * h + f * h_tilde, "f": f, "h_tilde": h_tilde}


def test_a_step_functions_params_are_packed_by_the_mapping():
    result = verify.compare(MGU, packed_step, mapping=_column_mapping(4, weight=""), sizes={"n": 4, "m": 3})
    assert result.passed, result.to_text()
    assert "forget = [W_f, U_f] (given)" in result.to_text()
    assert "the other 2 parameters under the spec's names" in result.to_text()
    swapped = {**_column_mapping(4, weight=""), "W_f": "forget[:, 3:]", "U_f": "forget[:, :3]"}
    wrong = verify.compare(MGU, packed_step, mapping=swapped, sizes={"n": 4, "m": 3})
    assert not wrong.stage("forward").passed and wrong.first_divergence.name == "f"


def test_a_step_function_mapping_that_does_not_tile_is_an_error():
    overlapping = {**_column_mapping(4, weight=""), "U_f": "forget[:, 2:]"}
    with pytest.raises(verify.CompareError, match=r"params\['forget'\]"):
        verify.compare(MGU, packed_step, mapping=overlapping, sizes={"n": 4, "m": 3})
    with pytest.raises(GatejacError, match="W_q"):  # not a spec parameter
        verify.compare(MGU, packed_step, mapping={"W_q": "forget"}, sizes={"n": 4, "m": 3})
