"""Figures of ``gatejac reproduce anisotropy`` (Livi 2025, arXiv:2508.12121, Section VII-B,
experiment S2; docs/theory.md: “Anisotropy of transports and updates”), drawn with matplotlib
from the statistics over seeds of :func:`verify._reproduce_anisotropy.summarise`, in the
shared style of :mod:`verify._figures`.

``statistics[task][model][convention]`` holds, per checkpoint and lag, the quartiles over seeds
of each Jacobian metric and, per checkpoint, those of each gradient-covariance metric; every
figure reads the last checkpoint.

* ``jacobian_ai.png`` / ``jacobian_ce.png`` — AI_r = σ₁/σ_r (log scale) and CE_r (top-k energy)
  of the Jacobian products Φ(t, k) against the lag t − k: one panel per (convention, task), one
  line per model, the median over seeds with the 25–75 % band;
* ``gradient_covariance.png`` — AI_r and CE_r of the per-example gradient directions: bars per
  task and model (median over seeds, IQR as error bars), one row per metric, one column per
  convention.
"""

from __future__ import annotations

import numpy as np

from ._figures import _COLOURS, _figure, png

FIGURES = ("jacobian_ai.png", "jacobian_ce.png", "gradient_covariance.png")
MODEL_NAMES = {"plain_adam": "plain RNN + Adam", "scalar_sgd": "scalar gate + SGD", "multi_sgd": "multi-gate + SGD"}
CONVENTIONS_TEXT = ("exact convention: a fresh training batch per step, $\\Phi = J_t \\cdots J_{k+1}$; "
                    "author convention: one batch, $J_{k+1} \\cdots J_t$ of the code's factors")
TRAINING_NAMES = {"exact": "exact convention: a fresh training batch per step",
                  "author": "author convention: every step on the same batch"}
_PANEL = 3.6

__all__ = ["FIGURES", "draw", "png"]


def draw(statistics: dict, lags, rank: int, top: int, note: str) -> dict:
    """``{file name: figure}`` of the three figures (module docstring)."""
    return {
        "jacobian_ai.png": lag_figure(statistics, lags, "ai", f"$AI_{{{rank}}} = \\sigma_1/\\sigma_{{{rank}}}$ "
                                      "(dimensionless, log scale)", log=True,
                                      title=f"Anisotropy index $AI_{{{rank}}}$ of the Jacobian products against "
                                            "the lag", note=note),
        "jacobian_ce.png": lag_figure(statistics, lags, "ce_top", f"$CE_{{{rank}}}$, share of the top-{top} "
                                      "energy (dimensionless)", log=False,
                                      title=f"Energy concentration $CE_{{{rank}}}$ of the Jacobian products "
                                            "against the lag", note=note),
        "gradient_covariance.png": gradient_figure(statistics, rank, note),
    }


def _plain_number(value, _position) -> str:
    """A log-axis tick as a plain number: 1, 10, 100, 1e+04 (no offset, no TeX)."""
    return f"{value:g}"


def _last(quartile_lists, key: str) -> np.ndarray:
    return np.array([q[key] for q in quartile_lists[-1]], dtype=float)


def lag_figure(statistics: dict, lags, metric: str, ylabel: str, *, log: bool, title: str, note: str):
    """One panel per (convention: row, task: column), one band per model: the Jacobian
    ``metric`` at the last checkpoint against the lag."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    tasks = list(statistics)
    conventions = list(next(iter(statistics[tasks[0]].values())))
    figure, axes = _figure(len(tasks), rows=len(conventions), height=_PANEL)
    figure.set_figwidth(max(_PANEL * len(tasks), 8.0))
    lags = np.asarray(lags, dtype=float)
    for row, convention in enumerate(conventions):
        for column, task in enumerate(tasks):
            axis = axes[row][column]
            for colour, (model, by_convention) in zip(_COLOURS, statistics[task].items()):
                values = by_convention[convention]["jacobian"][metric]
                median, q25, q75 = (_last(values, key) for key in ("median", "q25", "q75"))
                axis.fill_between(lags, q25, q75, color=colour, alpha=0.15, linewidth=0)
                axis.plot(lags, median, "o-", color=colour, markersize=3, linewidth=1.4,
                          label=MODEL_NAMES.get(model, model))
            axis.set_xscale("log", base=2)
            ticks = [lag for lag in (1, 2, 4, 8, 16, 32) if lag <= lags[-1]]
            axis.set_xticks(ticks, [str(lag) for lag in ticks])
            if log:
                axis.set_yscale("log")
                axis.yaxis.set_major_formatter(FuncFormatter(_plain_number))
                axis.yaxis.set_minor_formatter(NullFormatter())
            axis.set_xlabel("lag $t - k$ (steps)")
            if column == 0:
                axis.set_ylabel(f"{convention} convention\n{ylabel}", fontsize=8)
            axis.set_title(f"task: {task}", fontsize=9)
            axis.grid(True, which="major", alpha=0.3)
    lines, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(lines, labels, loc="outside lower center", ncols=len(labels), fontsize=9,
                  title="median over seeds, 25–75 % band", title_fontsize=8)
    figure.suptitle(f"{title}\n{CONVENTIONS_TEXT}\n{note}", fontsize=10)
    return figure


def gradient_figure(statistics: dict, rank: int, note: str):
    """AI_r (log scale) and CE_r (rows) of the gradient directions per convention (column):
    bars grouped by task, one per model, median over seeds with the IQR as error bars."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    tasks = list(statistics)
    models = list(statistics[tasks[0]])
    conventions = list(statistics[tasks[0]][models[0]])
    figure, axes = _figure(len(conventions), rows=2, height=3.8)
    width = 0.8 / len(models)
    rows = (("ai", f"$AI_{{{rank}}} = s_1/s_{{{rank}}}$ (dimensionless, log scale)", True),
            ("ce_full", f"$CE_{{{rank}}}$, share of the total energy (dimensionless)", False))
    positions = np.arange(len(tasks))
    for column, convention in enumerate(conventions):
        for row, (metric, ylabel, log) in enumerate(rows):
            axis = axes[row][column]
            for index, (colour, model) in enumerate(zip(_COLOURS, models)):
                quartile = [statistics[task][model][convention]["gradient"][metric][-1] for task in tasks]
                median = np.array([q["median"] for q in quartile])
                errors = np.array([[q["median"] - q["q25"] for q in quartile], [q["q75"] - q["median"] for q in quartile]])
                axis.bar(positions + (index - (len(models) - 1) / 2) * width, median, width, color=colour, alpha=0.8,
                         yerr=errors, capsize=2, label=MODEL_NAMES.get(model, model))
            axis.set_xticks(positions, tasks)
            axis.set_xlabel("task")
            axis.set_ylabel(ylabel, fontsize=8)
            if log:
                axis.set_yscale("log")
                axis.yaxis.set_major_formatter(FuncFormatter(_plain_number))
                axis.yaxis.set_minor_formatter(NullFormatter())
            axis.set_title(TRAINING_NAMES.get(convention, convention), fontsize=9)
            axis.grid(True, axis="y", which="major", alpha=0.3)
    lines, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(lines, labels, loc="outside lower center", ncols=len(labels), fontsize=9,
                  title="median over seeds, IQR as error bars", title_fontsize=8)
    figure.suptitle(f"Anisotropy of the per-example gradient directions (unit rows, centred)\n{note}", fontsize=11)
    return figure
