"""``verify.compare`` and ``gatejac compare``: a user's PyTorch implementation against a cell spec.

Correct implementations must pass (the real torch.nn cells against the catalogue's torch
cells, a module written by hand, an unbatched step function, a two-state cell); deliberately
wrong ones must be caught at the right stage and named: a wrong forward step first, a wrong
intermediate exposure, a wrong parameter map, the wrong candidate of examples/wrong_gate/,
a detached gate (a right step with a wrong derivative).  Expected values are never copied
from the code's output: they are the spec's own names and terms (``symbolic.derive``).
"""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from gatejac import verify
from gatejac.symbolic import GatejacError, cells, derive, term_text
from gatejac.verify._cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "wrong_gate"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"wrong_gate_{name}", EXAMPLE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MGU_SPEC = _load("mgu")
MGU_TORCH = _load("mgu_torch")


@pytest.fixture(scope="module")
def mgu():
    return MGU_SPEC.mgu().validate()


@pytest.fixture(scope="module")
def wrong(mgu):
    return verify.compare(mgu, MGU_TORCH.MGUWrongCandidate(3, 4), mapping=MGU_TORCH.MAPPING)


def _terms(cell, jacobian, block):
    """The texts of the derived terms of one block (``jacobian``: a BlockJacobian)."""
    return [term_text(cell, t) for t in jacobian.blocks[block].terms]


# --------------------------------------------------------------------------- correct implementations pass
@pytest.mark.parametrize("name, module", [("elman", torch.nn.RNNCell(3, 5)), ("gru_torch", torch.nn.GRUCell(3, 5)),
                                          ("lstm_torch", torch.nn.LSTMCell(3, 5)),
                                          ("gru_torch", torch.nn.GRUCell(2, 4, bias=False))])
def test_the_torch_nn_cells_agree_with_the_catalogue_cells_without_a_mapping(name, module):
    cell = cells.get(name, bias=module.bias)
    result = verify.compare(cell, module)
    assert result.passed, result.to_text()
    assert result.first_divergence is None
    assert result.sizes == {"n": module.hidden_size, "m": module.input_size}  # read from the module
    names = {r.jacobian for r in result.stage("jacobians").results}
    assert names == set(verify.jacobian_names(cell, kinds=("state", "input", "parameter")))
    assert [r.jacobian for r in result.stage("forward").results] == [f"{s.name}'" for s in cell.states]


def test_the_module_is_called_with_the_specs_values_not_its_own_weights():
    module = torch.nn.GRUCell(3, 4)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    assert verify.compare("gru_torch", module).passed
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())  # not modified either


def test_a_hand_written_module_passes_and_its_intermediates_are_compared(mgu):
    result = verify.compare(mgu, MGU_TORCH.MGU(3, 4), mapping=MGU_TORCH.MAPPING)
    assert result.passed, result.to_text()
    assert [r.jacobian for r in result.stage("intermediates").results] == ["f", "h_tilde"]
    assert "PASSED" in result.to_text().splitlines()[0]


def test_an_unbatched_step_function_is_called_one_sample_at_a_time(mgu):
    def step(x, h, params):  # written for one sample: a matrix times a vector
        f = torch.sigmoid(params["W_f"] @ h + params["U_f"] @ x + params["b_f"])
        h_tilde = torch.tanh(params["W_h"] @ (f * h) + params["U_h"] @ x + params["b_h"])
        return {"h": (1 - f) * h + f * h_tilde, "f": f, "h_tilde": h_tilde}

    with pytest.raises(RuntimeError):  # batched, it fails the way the issue describes
        step(torch.zeros(2, 3), torch.zeros(2, 4), {k: torch.zeros(s) for k, s in
                                                    {"W_f": (4, 4), "U_f": (4, 3), "b_f": (4,), "W_h": (4, 4),
                                                     "U_h": (4, 3), "b_h": (4,)}.items()})
    result = verify.compare(mgu, step)
    assert result.passed, result.to_text()
    assert "unbatched" in result.convention and "step(x, h, params)" in result.convention
    assert [r.jacobian for r in result.stage("intermediates").results] == ["f", "h_tilde"]


def test_a_two_state_module_returning_a_dict_passes():
    cell = cells.get("lstm_torch")
    reference = torch.nn.LSTMCell(3, 4)

    class Mine(torch.nn.Module):  # the LSTMCell's own weights, with another output convention
        def __init__(self):
            super().__init__()
            self.inner = reference

        def forward(self, x, state):
            h, c = self.inner(x, state)
            return {"c": c, "h": h}

    result = verify.compare(cell, Mine(), mapping={f"{k}": f"inner.{v}" for k, v in
                                                   _torch_layout_targets(reference).items()})
    assert result.passed, result.to_text()
    assert "module(x, (h, c))" in result.convention


def _torch_layout_targets(module) -> dict:
    """Spec parameter → target for an LSTMCell, written from torch's documented i, f, g, o order."""
    n, targets = module.hidden_size, {}
    for tensor, prefix in (("weight_ih", "W_i"), ("weight_hh", "W_h"), ("bias_ih", "b_i"), ("bias_hh", "b_h")):
        for j, gate in enumerate("ifgo"):
            targets[f"{prefix}{gate}"] = f"{tensor}[{j * n}:{(j + 1) * n}]"
    return targets


# --------------------------------------------------------------------------- wrong implementations are caught
def test_the_wrong_candidate_is_named_forward_first_then_intermediate_term_and_parameter(mgu, wrong):
    assert not wrong.passed
    assert not wrong.stage("forward").passed
    intermediates = {r.jacobian: r.passed for r in wrong.stage("intermediates").results}
    assert intermediates == {"f": True, "h_tilde": False}
    assert (wrong.first_divergence.stage, wrong.first_divergence.name) == ("intermediates", "h_tilde")
    expected_term = _terms(mgu, derive(mgu).parameter("W_h"), ("h", "W_h"))
    assert wrong.wrong_term.parameter == "W_h" and list(wrong.wrong_term.terms) == expected_term
    assert "(f*h)" in expected_term[0]
    text = wrong.to_text()
    assert text.index("forward step") < text.index("named intermediates") < text.index("Jacobians (")
    verdict = text.splitlines()[-1]
    assert "forward step is wrong" in verdict and "h_tilde" in verdict and expected_term[0] in verdict
    assert "parameter W_h" in verdict


def test_the_missing_path_through_the_gate_is_named_in_the_gate_parameters_blocks(mgu, wrong):
    through_candidate = [t for t in _terms(mgu, derive(mgu).parameter("W_f"), ("h", "W_f")) if "W_h" in t]
    found = {a.parameter: a for a in wrong.attributions if a.parameter}
    assert found["W_f"].verdict == "missing" and list(found["W_f"].terms) == through_candidate
    assert found["U_h"].verdict == "values"  # its structure is the spec's; only h_tilde's values differ


def test_a_wrongly_recorded_intermediate_fails_only_that_stage(mgu):
    class RecordsThePreactivation(MGU_TORCH.MGU):
        def forward(self, x, h):
            out = super().forward(x, h)
            self.f = self.forget_h(h) + self.forget_x(x)  # not σ(·): the step itself is right
            return out

    result = verify.compare(mgu, RecordsThePreactivation(3, 4), mapping=MGU_TORCH.MAPPING)
    assert result.stage("forward").passed and result.stage("jacobians").passed
    assert not result.stage("intermediates").passed
    assert (result.first_divergence.stage, result.first_divergence.name) == ("intermediates", "f")


def test_a_swapped_parameter_mapping_fails_the_forward_step(mgu):
    swapped = {**MGU_TORCH.MAPPING, "W_f": "candidate_h.weight", "W_h": "forget_h.weight"}
    result = verify.compare(mgu, MGU_TORCH.MGU(3, 4), mapping=swapped)
    assert not result.stage("forward").passed
    assert result.first_divergence.name == "f"  # the gate is the first node that reads W_f


def test_a_detached_gate_has_the_right_step_and_misses_exactly_the_gate_terms(mgu):
    class Detached(MGU_TORCH.MGU):
        def forward(self, x, h):
            f = torch.sigmoid(self.forget_h(h) + self.forget_x(x)).detach()
            h_tilde = torch.tanh(self.candidate_h(f * h) + self.candidate_x(x))
            return (1 - f) * h + f * h_tilde

    result = verify.compare(mgu, Detached(3, 4), mapping=MGU_TORCH.MAPPING)
    assert result.stage("forward").passed and not result.stage("jacobians").passed
    state = next(a for a in result.attributions if a.jacobian == "state")
    gate_terms = _terms(mgu, derive(mgu).gate_split().B, ("h", "h"))
    assert state.verdict == "missing" and sorted(state.terms) == sorted(gate_terms)
    assert "the step agrees, its derivative does not" in result.verdict()


def test_an_ambiguous_mapping_lists_each_parameter_with_its_shape_and_candidates(mgu):
    with pytest.raises(verify.CompareError) as caught:
        verify.compare(mgu, MGU_TORCH.MGU(3, 4))
    message = str(caught.value)
    assert "W_f (4, 4): candidates forget_h.weight, candidate_h.weight" in message
    assert "b_h (4,): candidates forget_x.bias, candidate_x.bias" in message
    assert "mapping=" in message
    assert "blocks of the right shape" not in message  # whole tensors fit: a block of a square weight is no hint


def test_a_module_parameter_left_unmapped_is_an_error(mgu):
    module = MGU_TORCH.MGU(3, 4)
    module.extra = torch.nn.Parameter(torch.zeros(7))
    with pytest.raises(verify.CompareError, match="extra"):
        verify.compare(mgu, module, mapping=MGU_TORCH.MAPPING)


def test_a_mapping_target_of_the_wrong_shape_names_both_shapes():
    with pytest.raises(verify.CompareError, match=r"mapping\['U'\] = 'weight_hh': that is a tensor of shape \(4, 4\)"):
        verify.compare("elman", torch.nn.RNNCell(3, 4), mapping={"U": "weight_hh"}, sizes={"n": 4, "m": 3})


def test_a_module_that_raises_says_what_was_expected():
    elman = torch.nn.RNNCell(3, 4)
    elman.forward = lambda x, h: (_ for _ in ()).throw(ValueError("not implemented yet"))
    with pytest.raises(verify.CompareError) as caught:
        verify.compare("elman", elman)
    message = str(caught.value)
    assert "module(x, h)" in message and "not implemented yet" in message and "one sample" in message


def test_a_wrong_return_value_says_what_gatejac_takes():
    with pytest.raises(verify.CompareError, match=r"tuple \(h, c\) or a dict"):
        verify.compare("lstm_torch", lambda x, state, params: state[0], sizes={"n": 3, "m": 2})


# --------------------------------------------------------------------------- serialisation and the command line
def test_the_comparison_serialises_to_json_and_markdown(wrong):
    data = json.loads(wrong.to_json())
    assert data["passed"] is False and data["first_divergence"]["name"] == "h_tilde"
    assert data["wrong_term"]["parameter"] == "W_h"
    assert [s["stage"] for s in data["stages"]] == ["forward", "intermediates", "jacobians"]
    markdown = wrong.to_markdown()
    assert markdown.startswith("### Your MGUWrongCandidate") and "| `h_tilde` | FAIL |" in markdown


def test_the_markdown_renders_the_terms_as_written(mgu, wrong):
    markdown = pytest.importorskip("markdown", reason="the docs extra renders Markdown")
    html = markdown.markdown(wrong.to_markdown(), extensions=["tables"])
    term = _terms(mgu, derive(mgu).parameter("W_h"), ("h", "W_h"))[0]
    assert term in html.replace("&gt;", ">")  # its * and _ are not read as emphasis
    assert "<em>" not in html and html.count("<strong>") == 1  # only the verdict's label
    assert html.count("<table>") == 3


def test_the_command_line_exits_0_1_2(capsys):
    spec, impl = str(EXAMPLE / "mgu.py") + ":cell", str(EXAMPLE / "mgu_torch.py")
    assert main(["compare", spec, impl + ":correct"]) == 0
    assert main(["compare", spec, impl + ":wrong"]) == 1
    out = capsys.readouterr().out
    assert "first diverging intermediate is h_tilde" in out and "parameter W_h" in out
    assert main(["compare", spec, impl + ":MGU"]) == 2  # the class is built, but its layers differ by name only
    assert "cannot map" in capsys.readouterr().err
    assert main(["compare", spec, impl + ":correct", "--mapping", "W_f=nowhere.weight"]) == 2
    assert "unknown module parameter 'nowhere.weight'" in capsys.readouterr().err


def test_the_examples_readme_shows_the_real_output(wrong):
    readme = (EXAMPLE / "README.md").read_text()
    assert wrong.to_text() in readme  # the command's output, as the Python call prints it
    assert "gatejac compare examples/wrong_gate/mgu.py:cell examples/wrong_gate/mgu_torch.py:wrong" in readme


def test_a_submodule_named_by_intermediates_is_captured_with_a_hook(mgu):
    class WithGateModule(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.W_f, self.U_f = torch.nn.Linear(4, 4, bias=False), torch.nn.Linear(3, 4)
            self.W_h, self.U_h = torch.nn.Linear(4, 4, bias=False), torch.nn.Linear(3, 4)
            self.squash = torch.nn.Sigmoid()

        def forward(self, x, h):
            f = self.squash(self.W_f(h) + self.U_f(x))
            return (1 - f) * h + f * torch.tanh(self.W_h(f * h) + self.U_h(x))

    mapping = {"b_f": "U_f.bias", "b_h": "U_h.bias"}  # the weights are found by name (W_f.weight is W_f)
    result = verify.compare(mgu, WithGateModule(), mapping=mapping, intermediates={"f": "squash"})
    assert result.passed, result.to_text()
    assert [r.jacobian for r in result.stage("intermediates").results] == ["f"]
    assert result.stage("intermediates").not_exposed == ["h_tilde"]
    assert "W_f.weight = W_f (by name)" in result.to_text()


def test_float32_runs_the_module_in_float32_at_the_float32_tolerance():
    result = verify.compare("gru_torch", torch.nn.GRUCell(3, 4), dtype="float32")
    assert result.passed, result.to_text()
    bound = verify.tolerance("reference", "float32", 1.0).bound(0.0)
    assert all(r.tolerance >= bound for r in result.stage("jacobians").results)
    worst = max(r.max_error for r in result.stage("jacobians").results)
    assert worst > verify.tolerance("ad", "float64", 1.0).bound(1.0)  # float32 round-off, not float64's


class _NamedParameters(torch.nn.Module):
    """Any catalogue cell as a module holding its parameters under the spec's names (its step
    is gatejac's compiled torch step): what compare must find by name, whatever the cell."""

    def __init__(self, cell, sizes, scale_first=1.0):
        super().__init__()
        from gatejac import numeric

        self.cell, self.compiled, self.scale_first = cell, numeric.compile(cell, "torch"), scale_first
        for key, value in numeric.random_values(cell, sizes, seed=5, backend="torch")[2].items():
            self.register_parameter(key, torch.nn.Parameter(value))

    def forward(self, *arguments):
        *inputs, state = arguments
        names = [s.name for s in self.cell.states]
        states = dict(zip(names, state)) if len(names) > 1 else {names[0]: state}
        params = dict(self.named_parameters())
        first = self.cell.parameters[0].name
        params[first] = params[first] * self.scale_first
        new = self.compiled.step(states, {i.name: x for i, x in zip(self.cell.inputs, inputs)}, params)
        return tuple(new[n] for n in names) if len(names) > 1 else new[names[0]]


@pytest.mark.parametrize("name", cells.names())
def test_every_catalogue_cell_as_a_module_with_named_parameters_passes(name):
    cell = cells.get(name)
    result = verify.compare(cell, _NamedParameters(cell, {d.name: 3 for d in cell.dims}))
    assert result.passed, result.to_text()
    assert set(result.mapping) == {p.name for p in cell.parameters}


def test_the_same_module_with_a_scaled_parameter_fails_its_forward_step():
    cell = cells.get("lstm_torch")
    result = verify.compare(cell, _NamedParameters(cell, {"n": 3, "m": 2}, scale_first=1.001))
    assert not result.stage("forward").passed


class _HandWrittenLSTM(torch.nn.Module):
    """An LSTM with torch's parameter names, returning its gates too; ``old_cell=True`` is the
    slip h' = o ⊙ tanh(c) with the previous cell state where the spec has c'."""

    def __init__(self, m, n, old_cell=False):
        super().__init__()
        self.weight_ih = torch.nn.Parameter(torch.zeros(4 * n, m))
        self.weight_hh = torch.nn.Parameter(torch.zeros(4 * n, n))
        self.bias_ih, self.bias_hh = torch.nn.Parameter(torch.zeros(4 * n)), torch.nn.Parameter(torch.zeros(4 * n))
        self.old_cell = old_cell

    def forward(self, x, state):
        h, c = state
        i, f, g, o = (x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh).chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c_new = f * c + i * g
        return {"h": o * torch.tanh(c if self.old_cell else c_new), "c": c_new, "i": i, "f": f, "g": g, "o": o,
                "c_new": c_new}


def test_a_hand_written_two_state_module_passes_and_its_slip_in_one_state_is_named():
    right = verify.compare("lstm_torch", _HandWrittenLSTM(3, 4))
    assert right.passed, right.to_text()
    assert [r.jacobian for r in right.stage("intermediates").results] == ["i", "f", "g", "o", "c_new"]
    slip = verify.compare("lstm_torch", _HandWrittenLSTM(3, 4, old_cell=True))
    assert {r.jacobian: r.passed for r in slip.stage("forward").results} == {"h'": False, "c'": True}
    assert slip.stage("intermediates").passed  # every node is right; only h' reads the wrong c
    assert "the forward step is wrong in h' (c' agrees)" in slip.verdict()
    assert slip.first_divergence.name == "h'"


@pytest.mark.parametrize("options, word", [({"mapping": ["W", "weight_hh"]}, "mapping"),
                                           ({"intermediates": {"a": 3}}, "intermediates"),
                                           ({"dtype": "float16"}, "float16"), ({"points": 0}, "points")])
def test_bad_options_are_gatejac_errors_naming_the_option(options, word):
    with pytest.raises(GatejacError, match=word):  # CompareError, or UnknownNameError for a dtype
        verify.compare("elman", torch.nn.RNNCell(3, 4), **options)
