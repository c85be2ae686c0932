"""Figures of the lag-dependent effective learning rates (Livi 2025, arXiv:2508.12121,
Section VII-A, experiment S1; docs/theory.md: “Transports and backpropagation”), drawn with
matplotlib in the style of :mod:`verify._figures` (its panel sizes, colours, median-and-band
curves and titles) from the per-seed results of ``gatejac reproduce effective-lr``.

Every per-seed record holds, per checkpoint, the measured profile μ̃_eff(h), the predicted
μ̃_pred(h), the fitted (μ̃_pred(h) + 10⁻¹²)^s and the fit (s, R²); across seeds a curve is the
median with the 25–75 % band, a point the median with the quartiles as error bars.

* ``profiles_CONVENTION.png`` — μ̃_eff, μ̃_pred and μ̃_fit against the lag h, one row per
  model, the first and the last checkpoint side by side, s and R² in the legend;
* ``heatmap_CONVENTION.png`` — log₁₀ μ̃_eff (median over seeds) over lag × checkpoint;
* ``slope.png`` — s and R² against the checkpoint iteration, per model and convention;
* ``exact_vs_author.png`` (both conventions only) — |μ̃_author(h)/μ̃_exact(h) − 1| against the
  lag, per model and checkpoint, with s_author − s_exact in the legend.

matplotlib is imported inside the functions only: importing this module costs nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from ._figures import _COLOURS, _band, _figure, _title, png

__all__ = ["draw", "file_names", "png"]

MODEL_NAMES = {"leaky": "leaky (α = 0.8)", "scalar_gate": "scalar gate", "multi_gate": "multi-gate"}
"""How a model is named in titles and legends."""
CONVENTION_NAMES = {
    "exact": "exact: σ₁ of the chain-order Jacobian product",
    "author": "author: power iteration, reversed product, gate term at $h_j$",
}
"""What each convention computes (the author convention is the paper's public code)."""
VISIBLE_PREDICTION = 1e-10
"""The fitted profile (μ̃_pred + 10⁻¹²)^s is drawn only where μ̃_pred exceeds this: further down the
guard 10⁻¹² dominates and the curve turns flat, an artefact of the definition."""
_LAG = "lag $h = t - k$ (steps)"
_ITERATION = "training iteration (SGD updates)"


def file_names(conventions) -> tuple[str, ...]:
    """The figure files drawn for ``conventions`` (in the order :func:`draw` returns them)."""
    names = [f"{kind}_{c}.png" for c in conventions for kind in ("profiles", "heatmap")] + ["slope.png"]
    return tuple(names + (["exact_vs_author.png"] if len(conventions) == 2 else []))


def draw(per_seed: Mapping, statistics: Mapping, compared: Mapping | None, *, note: str = "") -> dict:
    """``{file name: Figure}`` (:func:`file_names`) from ``per_seed[model][convention]`` (the
    list of per-seed records), ``statistics[model][convention]`` (their summary) and, with both
    conventions, ``compared[model][iteration]`` (the exact-vs-author differences)."""
    conventions = list(next(iter(per_seed.values())))
    drawn = {}
    with warnings.catch_warnings():  # a lag no pair covers (the author's lag T) is NaN in every seed
        warnings.simplefilter("ignore", RuntimeWarning)
        for convention in conventions:
            drawn[f"profiles_{convention}.png"] = profiles_figure(per_seed, statistics, convention, note=note)
            drawn[f"heatmap_{convention}.png"] = heatmap_figure(statistics, convention, note=note)
        drawn["slope.png"] = slope_figure(statistics, note=note)
        if compared:
            drawn["exact_vs_author.png"] = difference_figure(per_seed, compared, note=note)
    return drawn


def _stack(records, key: str, index: int) -> np.ndarray:
    return np.array([r[key][index] for r in records], dtype=float)


def profiles_figure(per_seed: Mapping, statistics: Mapping, convention: str, *, note: str = ""):
    """One row per model, one column per end checkpoint (first, last): μ̃_eff (median, band),
    μ̃_pred (dashed) and μ̃_fit (dash-dot, where μ̃_pred > :data:`VISIBLE_PREDICTION`) against
    the lag, log y."""
    models = list(per_seed)
    checkpoints = statistics[models[0]][convention]["checkpoints"]
    ends = [0, len(checkpoints) - 1]
    figure, axes = _figure(2, rows=len(models), height=3.3)
    for row, model in enumerate(models):
        records = per_seed[model][convention]
        for column, index in enumerate(ends):
            axis = axes[row][column]
            profile = _stack(records, "profile", index)
            lags = np.arange(1, profile.shape[1] + 1)
            entry = statistics[model][convention]["by_checkpoint"][str(checkpoints[index])]
            _band(axis, lags, profile, _COLOURS[0], r"measured $\tilde\mu_{\mathrm{eff}}(h)$: median, 25–75 % band")
            axis.plot(lags, entry["predicted_median"], "--", color=_COLOURS[1], linewidth=1.4,
                      label=r"predicted $\tilde\mu_{\mathrm{pred}}(h)$ (gate products, zeroth order)")
            slope, r2 = entry["slope"]["median"], entry["r_squared"]["median"]
            fitted = np.array(entry["fitted_median"], dtype=float)
            shown = np.array(entry["predicted_median"], dtype=float) > VISIBLE_PREDICTION
            axis.plot(lags, np.where(shown, fitted, np.nan), "-.", color=_COLOURS[2], linewidth=1.4,
                      label=f"fitted $\\tilde\\mu_{{\\mathrm{{pred}}}}^{{\\,s}}$: "
                            f"median s = {slope:.3f}, R² = {r2:.3f}")
            axis.set_yscale("log")
            axis.set_xlabel(_LAG)
            axis.set_ylabel(r"$\tilde\mu_{\mathrm{eff}}(h)$, relative to lag 1")
            axis.set_title(f"{MODEL_NAMES.get(model, model)}, iteration {checkpoints[index]}", fontsize=10)
            axis.grid(True, which="major", alpha=0.3)
            axis.legend(fontsize=7, loc="lower left")
    name = CONVENTION_NAMES[convention]
    _title(figure, f"Effective learning rate against lag, first and last checkpoint — {name}\n"
                   "(the fitted curve is drawn where the predicted profile exceeds 1e-10: below it the definition's "
                   "+1e-12 guard flattens it)", note)
    return figure


def heatmap_figure(statistics: Mapping, convention: str, *, note: str = ""):
    """log₁₀ of the median μ̃_eff over lag (x) × checkpoint (y, one row each, ``origin="lower"``),
    one panel and colour bar per model."""
    models = list(statistics)
    figure, axes = _figure(len(models), height=3.8)
    figure.set_figwidth(5.2 * len(models))
    for axis, model in zip(axes[0], models):
        entry = statistics[model][convention]
        checkpoints = entry["checkpoints"]
        rows = np.array([entry["by_checkpoint"][str(c)]["profile_median"] for c in checkpoints], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log10(rows)
        image = axis.imshow(logs, origin="lower", aspect="auto", cmap="viridis", interpolation="nearest",
                            extent=(0.5, rows.shape[1] + 0.5, -0.5, len(checkpoints) - 0.5))
        axis.set_yticks(range(len(checkpoints)), [str(c) for c in checkpoints])
        axis.set_xlabel(_LAG)
        axis.set_ylabel(_ITERATION)
        axis.set_title(MODEL_NAMES.get(model, model), fontsize=10)
        figure.colorbar(image, ax=axis, label=r"$\log_{10}\tilde\mu_{\mathrm{eff}}(h)$ (median over seeds)")
    _title(figure, f"Effective learning rate over lag and training — {CONVENTION_NAMES[convention]}", note)
    return figure


def slope_figure(statistics: Mapping, *, note: str = ""):
    """s(ℓ) and R² against the checkpoint iteration: the median over seeds with the quartiles
    as error bars, one colour per model, solid for the exact convention and dashed for the
    author's (points offset sideways so that the bars do not hide each other)."""
    figure, axes = _figure(2, height=4.2)
    models = list(statistics)
    conventions = list(statistics[models[0]])
    checkpoints = statistics[models[0]][conventions[0]]["checkpoints"]
    shift = 0.006 * (max(checkpoints) - min(checkpoints) or 1)
    styles = {"exact": ("-", "o"), "author": ("--", "s")}
    for axis, key, label in ((axes[0][0], "slope", "slope $s$ of $\\ln S$ on $\\ln P$ (dimensionless)"),
                             (axes[0][1], "r_squared", "$R^2$ of the log–log fit (dimensionless)")):
        position = 0
        for colour, model in zip(_COLOURS, models):
            for convention in conventions:
                entry = statistics[model][convention]["by_checkpoint"]
                values = [entry[str(c)][key] for c in checkpoints]
                median = np.array([v["median"] for v in values], dtype=float)
                errors = np.array([[m - v["q25"], v["q75"] - m] for m, v in zip(median, values)], dtype=float).T
                line, marker = styles.get(convention, ("-", "o"))
                x = np.array(checkpoints, dtype=float) + (position - 2.5) * shift
                axis.errorbar(x, median, yerr=errors, fmt=line + marker, color=colour, markersize=4, capsize=3,
                              linewidth=1.3, label=f"{MODEL_NAMES.get(model, model)}, {convention}")
                position += 1
        axis.set_xlabel(_ITERATION)
        axis.set_ylabel(label)
        axis.grid(True, which="major", alpha=0.3)
    lines, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(lines, labels, loc="outside lower center", ncols=3, fontsize=9)
    _title(figure, "Slope s and R² of the fit ln S = a + s ln P over training (median, quartiles over seeds)", note)
    return figure


def difference_figure(per_seed: Mapping, compared: Mapping, *, note: str = ""):
    """|μ̃_author(h)/μ̃_exact(h) − 1| against the lag h ≥ 2 (both profiles are 1 at lag 1 by
    their normalisation; median over seeds), one panel per model and
    one line per checkpoint, the median s_author − s_exact of each in the legend."""
    from matplotlib import colormaps

    models = list(per_seed)
    figure, axes = _figure(len(models), height=5.0)
    figure.set_figwidth(5.2 * len(models))
    for axis, model in zip(axes[0], models):
        exact, author = per_seed[model]["exact"], per_seed[model]["author"]
        checkpoints = exact[0]["checkpoints"]
        colours = colormaps["viridis"](np.linspace(0, 0.9, len(checkpoints)))
        for index, (iteration, colour) in enumerate(zip(checkpoints, colours)):
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.abs(_stack(author, "profile", index) / _stack(exact, "profile", index) - 1)
            lags = np.arange(1, ratio.shape[1] + 1)
            gap = compared[model][str(iteration)]["slope_difference"]["median"]
            axis.plot(lags[1:], np.nanmedian(ratio, axis=0)[1:], color=colour, linewidth=1.3,
                      label=f"iteration {iteration}: $s_{{author}} - s_{{exact}}$ = {gap:+.3f}")
        axis.set_yscale("log")
        axis.set_xlabel(_LAG)
        axis.set_ylabel("relative profile difference (dimensionless)")
        axis.set_title(MODEL_NAMES.get(model, model), fontsize=10)
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2)
    _title(figure, r"How far the public code's profile is from the exact one: "
                   r"$|\tilde\mu_{\mathrm{author}}(h) / \tilde\mu_{\mathrm{exact}}(h) - 1|$ for lags $h \geq 2$ "
                   r"(both are 1 at lag 1), median over seeds", note)
    return figure
