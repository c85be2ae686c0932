"""The dynamics figures (verify._figures_dynamics) drawn from small synthetic arrays: the
objects — axes, labels, lines, legends — not the pixels."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gatejac.verify import _figures_dynamics as figures
from gatejac.verify._figures import png

pytest.importorskip("matplotlib")


def _line(axis, label: str):
    return next(line for line in axis.get_lines() if line.get_label() == label)


def test_importing_the_module_does_not_import_matplotlib():
    code = "import sys; import gatejac.verify._figures_dynamics; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_spectra_panels_draw_the_eigenvalues_the_prediction_and_the_unit_circle():
    rng = np.random.default_rng(0)
    values = 0.5 + 0.2 * (rng.standard_normal(50) + 1j * rng.standard_normal(50))
    boundary = 0.5 + 0.3 * np.exp(2j * np.pi * np.linspace(0, 1, 65))
    panels = [{"eigenvalues": values, "boundary": boundary, "prediction": "predicted disk", "title": f"case {k}"}
              for k in range(3)]
    figure = figures.spectra_panels(panels, columns=2, title="Spectra", note="N = 50")
    shown = [a for a in figure.axes if a.get_visible()]
    assert len(figure.axes) == 4 and len(shown) == 3  # 2 × 2 grid, the fourth panel hidden
    for k, axis in enumerate(shown):
        assert axis.get_title() == f"case {k}"
        assert axis.get_xlabel() == r"Re $\lambda$" and axis.get_ylabel() == r"Im $\lambda$"
        dots = _line(axis, "eigenvalues of the Jacobian (measured)")
        assert np.array_equal(dots.get_xdata(), values.real) and np.array_equal(dots.get_ydata(), values.imag)
        assert np.array_equal(_line(axis, "predicted disk").get_xdata(), boundary.real)
        circle = _line(axis, "unit circle |λ| = 1")
        assert np.allclose(np.hypot(circle.get_xdata(), circle.get_ydata()), 1.0)
    assert figure.get_suptitle() == "Spectra\nN = 50"
    assert png(figure).startswith(b"\x89PNG")


def test_spectra_panels_with_nothing_to_show_say_so():
    figure = figures.spectra_panels([], columns=3, title="Fixed points")
    assert "nothing to show" in figure.axes[0].texts[0].get_text()


def test_slow_mode_figure_has_the_identity_line_and_one_legend_entry_per_group():
    figure = figures.slow_mode_figure([0.1, 0.2, 0.3], [0.11, 0.19, 0.32], ["a", "a", "b"], width=0.05)
    axis = figure.axes[0]
    identity = _line(axis, "identity: the prediction")
    assert np.array_equal(identity.get_xdata(), identity.get_ydata())
    assert [t.get_text() for t in axis.get_legend().get_texts()] == ["a", "b", "identity: the prediction"]
    assert "z_i < 0.05" in axis.get_xlabel() and "< 0.05" in axis.get_ylabel()
    many = figures.slow_mode_figure(np.arange(7) / 10, np.arange(7) / 10, [f"g{k}" for k in range(7)], width=0.05)
    assert len(many.axes[0].get_legend().get_texts()) == 8  # no group dropped when the colours run out


def test_phase_diagram_draws_the_threshold_curve_where_it_is_inside_the_grid():
    sigmas, biases = np.linspace(0.5, 3.0, 6), np.linspace(-2.0, 2.0, 5)
    rbar = 1 / (1 + np.exp(-biases))
    values = 0.5 + 0.5 * sigmas[:, None] * rbar[None, :]
    figure = figures.phase_diagram(sigmas, biases, values, threshold=lambda b: 1 + np.exp(-b))
    axis, colourbar = figure.axes
    curve = next(line for line in axis.get_lines() if "predicted threshold" in line.get_label())
    x, y = curve.get_xdata(), curve.get_ydata()
    assert np.allclose(x * (1 / (1 + np.exp(-y))), 1.0)  # on r̄ σ_h = 1
    assert x.min() >= sigmas[0] and x.max() <= sigmas[-1]
    assert "rho(J_0)" in colourbar.get_ylabel()
    assert axis.collections[0].norm.vcenter == 1.0  # white at the threshold value


def test_exponent_scatter_deviation_and_criticality_figures():
    reference = np.log(np.linspace(0.8, 1.0, 6))[::-1]
    scatter = figures.exponent_scatter({"heterogeneous": reference},
                                       {"heterogeneous": {0.0: reference, 0.01: reference + 0.002}})
    axis = scatter.axes[0]
    assert np.array_equal(_line(axis, r"$\gamma = 0.01$").get_ydata(), reference + 0.002)
    identity = _line(axis, r"identity: $LE_i = \ln|\lambda_i(R)|$")
    assert np.array_equal(identity.get_xdata(), identity.get_ydata())

    gammas = (0.005, 0.01, 0.02, 0.04)
    deviation = figures.deviation_figure(gammas, {"homogeneous": np.outer(gammas, [0.9, 1.1])},
                                         checked=("homogeneous",))
    axis = deviation.axes[0]
    guide = _line(axis, r"guide line of slope 1 ($\propto\gamma$)")
    assert np.allclose(np.diff(np.log(guide.get_ydata())) / np.diff(np.log(gammas)), 1.0)
    assert "ratios checked" in axis.get_legend().get_texts()[0].get_text()

    moduli = (0.9, 1.0, 1.1)
    largest = np.log(np.array(moduli))[:, None, None] * np.ones((3, 2, 4))
    criticality = figures.criticality_figure(moduli, (0.005, 0.01), largest, np.full((3, 2), 0.01))
    assert [a.get_title() for a in criticality.axes] == [r"coupling $\gamma = 0.005$", r"coupling $\gamma = 0.01$"]
    dots = [line for line in criticality.axes[0].get_lines() if line.get_marker() == "o"]
    assert len(dots) == 4  # one per seed
