"""``verify.compare`` maps a spec parameter held in a module buffer (``register_buffer``): a
fixed, non-trainable spec parameter legitimately lives there.

A mapped buffer must be replaced by the spec's value (a module whose buffer kept its own value
would fail its forward step, since the spec draws its parameters at random); a buffer no spec
parameter fills is left alone (a mask, a running statistic); a buffer the module reads wrongly
is caught; and the mapping error lists the module's parameters and its buffers.
"""

import pytest
import torch

from gatejac import numeric, verify
from gatejac.symbolic import cells

SIZES = {"n": 4, "m": 3}
LEAKY = cells.get("leaky")
STEP = numeric.compile(LEAKY, "torch").step  # module level: a module holding it could not be deep-copied


class _Leaky(torch.nn.Module):
    """The catalogue's leaky cell (its step is gatejac's compiled torch step) with the fixed rate
    ``alpha`` registered as a buffer (under ``rate_name``) and W, U, b as parameters; ``scale``
    multiplies the buffer where the step reads it (1.0: right)."""

    def __init__(self, rate_name="alpha", scale=1.0):
        super().__init__()
        self.rate_name, self.scale = rate_name, scale
        values = numeric.random_values(LEAKY, SIZES, seed=7, backend="torch")[2]
        for key in ("W", "U", "b"):
            self.register_parameter(key, torch.nn.Parameter(values[key]))
        self.register_buffer(rate_name, torch.tensor(0.123))  # not the spec's value: compare must replace it

    def forward(self, x, h):
        params = {**dict(self.named_parameters()), "alpha": getattr(self, self.rate_name) * self.scale}
        return STEP({"h": h}, {"x": x}, params)["h"]


def test_a_spec_parameter_in_a_buffer_is_mapped_by_name_and_replaced_by_the_specs_value():
    result = verify.compare("leaky", _Leaky())
    assert result.passed, result.to_text()
    assert result.mapping["alpha"] == "alpha"


def test_a_buffer_no_parameter_fits_is_mapped_by_shape():
    result = verify.compare("leaky", _Leaky(rate_name="rate"))
    assert result.passed, result.to_text()
    assert result.mapping["alpha"] == "rate"


def test_a_module_that_misreads_its_buffer_fails_its_forward_step():
    result = verify.compare("leaky", _Leaky(scale=1.5))
    assert not result.stage("forward").passed


def test_a_buffer_no_spec_parameter_fills_is_left_alone():
    module = torch.nn.GRUCell(3, 4)
    module.register_buffer("mask", torch.ones(4, 4))  # the shape of W_hr, but a parameter holds W_hr
    module.register_buffer("steps", torch.tensor(0))  # an integer buffer is never a spec parameter
    result = verify.compare("gru_torch", module)
    assert result.passed, result.to_text()
    assert "mask" not in result.mapping.values() and "steps" not in result.mapping.values()


def test_the_mapping_error_lists_the_module_parameters_and_buffers():
    module = _Leaky(rate_name="rate")
    module.register_buffer("other_rate", torch.tensor(0.5))  # two scalar buffers: which is alpha?
    with pytest.raises(verify.CompareError) as caught:
        verify.compare("leaky", module)
    message = str(caught.value)
    assert "alpha (): candidates rate, other_rate" in message
    assert "module parameters: W (4, 4), U (4, 3), b (4,)" in message
    assert "module buffers: rate (), other_rate ()" in message
