"""verify._figures on synthetic arrays: what each figure shows (axes, scales, labels, legends,
the slope-2 guide, ‖c₂‖_F, the twin axis, the histogram's counts), inspected on the matplotlib
objects; PNG rendering; and that importing the module does not import matplotlib."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gatejac.verify import _figures

EPSILONS = np.array([1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0])
GATES = ("scalar_gate", "multi_gate")
SEEDS, STEPS = 6, 40


@pytest.fixture
def data():
    """Per-seed arrays ``{convention: {gate: array}}`` with known medians."""
    rng = np.random.default_rng(0)
    scale = {"scalar_gate": 1e-2, "multi_gate": 3.0}

    def grouped(make):
        return {c: {g: make(c, g) for g in GATES} for c in ("exact", "author")}

    c2 = grouped(lambda c, g: scale[g] * (1 + 0.1 * rng.standard_normal(SEEDS)))
    errors = grouped(lambda c, g: c2[c][g][:, None] * EPSILONS**2 * (1 + EPSILONS))
    a = grouped(lambda c, g: 1.5 + 0.1 * rng.random((SEEDS, STEPS)))
    b = grouped(lambda c, g: 0.05 * rng.random((SEEDS, STEPS)) + 1e-3)
    ratios = {c: {g: b[c][g] / a[c][g] for g in GATES} for c in a}
    return {"c2": c2, "errors": errors, "a": a, "b": b, "ratios": ratios}


def legend_texts(axis) -> list[str]:
    return [t.get_text() for t in axis.get_legend().get_texts()]


def test_truncation_figure_is_log_log_per_convention_with_bands_and_a_slope_2_guide(data):
    figure = _figures.truncation_figure(EPSILONS, data["errors"], note="T = 100 steps")
    assert len(figure.axes) == 2
    assert "E_{\\mathrm{trunc}}" in figure.get_suptitle() and figure.get_suptitle().endswith("T = 100 steps")
    for axis, convention in zip(figure.axes, ("exact", "author")):
        assert axis.get_title() == _figures.CONVENTION_NAMES[convention]
        assert (axis.get_xscale(), axis.get_yscale()) == ("log", "log")
        assert "varepsilon" in axis.get_xlabel() and "dimensionless" in axis.get_xlabel()
        assert "Frobenius" in axis.get_ylabel()
        assert legend_texts(axis)[:2] == ["scalar gate: median, 25–75 % band", "multi-gate: median, 25–75 % band"]
        lines = {line.get_label(): line for line in axis.get_lines()}
        median = lines["scalar gate: median, 25–75 % band"].get_ydata()
        assert np.allclose(median, np.median(data["errors"][convention]["scalar_gate"], axis=0))
        guide = next(line for label, line in lines.items() if "slope 2" in label)
        slope = np.polyfit(np.log(guide.get_xdata()), np.log(guide.get_ydata()), 1)[0]
        assert slope == pytest.approx(2.0, abs=1e-12)
        lowest = min(np.percentile(data["errors"][convention][g], 25, axis=0)[0] for g in GATES)
        assert np.all(guide.get_ydata() < median) and guide.get_ydata()[0] == pytest.approx(lowest / 10)
        assert len(axis.collections) == 2  # one 25–75 % band per gate


def test_c2_figure_marks_the_norm_of_c2_at_its_median(data):
    figure = _figures.c2_figure(EPSILONS, data["errors"], data["c2"])
    for axis, convention in zip(figure.axes, ("exact", "author")):
        assert "C_2(\\varepsilon)" in axis.get_ylabel() and "varepsilon" in axis.get_xlabel()
        marks = {line.get_label(): line.get_ydata()[0] for line in axis.get_lines() if "c_2\\|_F" in line.get_label()}
        assert len(marks) == 2
        for gate, name in (("scalar_gate", "scalar gate"), ("multi_gate", "multi-gate")):
            value = next(v for label, v in marks.items() if label.startswith(name))
            assert value == pytest.approx(np.median(data["c2"][convention][gate]))
    (legend,) = figure.legends  # one legend for both panels, under them
    assert len(legend.get_texts()) == 4 and sum("c_2" in t.get_text() for t in legend.get_texts()) == 2


def test_norms_figure_has_a_panel_per_gate_and_convention_with_r_on_a_twin_axis(data):
    figure = _figures.norms_figure(data["a"], data["b"], data["ratios"])
    left = [a for a in figure.axes if a.get_ylabel().startswith("spectral norm")]
    right = [a for a in figure.axes if "r_j" in a.get_ylabel()]
    assert len(left) == 4 and len(right) == 4
    for axis in left:
        assert axis.get_yscale() == "log" and axis.get_xlabel().startswith("step $j$")
        named = {line.get_label() for line in axis.get_lines() if not line.get_label().startswith("_")}
        assert named == {r"$\|A_j\|_2$ (gate frozen)", r"$\|B_j\|_2$ (gate term)"}
    assert {a.get_title().split(" — ")[0] for a in left} == {"scalar gate", "multi-gate"}
    for axis in right:
        assert axis.get_ylim()[0] == 0
    (legend,) = figure.legends
    assert len(legend.get_texts()) == 3 and "right axis" in legend.get_texts()[2].get_text()


def test_ratio_histogram_counts_every_step_of_every_seed(data):
    figure = _figures.ratio_histogram(data["ratios"])
    for axis in figure.axes:
        assert axis.get_xscale() == "log" and "r_j" in axis.get_xlabel() and axis.get_ylabel().startswith("count")
        bars = [patch.get_height() for patch in axis.patches]
        assert sum(bars) == 2 * SEEDS * STEPS  # two gates; no value falls outside the bins
        assert f"scalar gate ({STEPS} steps × {SEEDS} seeds)" in legend_texts(axis)


def test_png_renders_every_figure(data):
    figure = _figures.ratio_histogram(data["ratios"])
    image = _figures.png(figure)
    assert image.startswith(b"\x89PNG\r\n\x1a\n") and len(image) > 10_000


def test_importing_the_figures_module_does_not_import_matplotlib():
    code = "import sys, gatejac.verify._figures; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
