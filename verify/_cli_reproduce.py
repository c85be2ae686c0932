"""``gatejac reproduce NAME``: rerun a paper's experiment at its settings, print a short table
and write a summary and figures.

    gatejac reproduce expansion [--out DIR] [--quick] [--seeds N] [--jobs N] [--convention exact|author|both]
    gatejac reproduce slow-modes [--out DIR] [--quick] [--seeds N]
    gatejac reproduce residual-lyapunov [--out DIR] [--quick] [--seeds N]
    gatejac reproduce effective-lr [--out DIR] [--quick] [--seeds N] [--jobs N] [--convention exact|author|both]
    gatejac reproduce anisotropy [--out DIR] [--quick] [--seeds N] [--jobs N] [--convention exact|author|both]

Each reproduction is a function of :mod:`verify` (``verify.reproduce_expansion``,
``reproduce_slow_modes``, ``reproduce_residual``) that returns
a :class:`~verify.Reproduction`; this module only parses the options, calls it and prints its
table.  Progress goes to stderr; an interrupted run (Ctrl-C, exit code 130) keeps every
finished seed, and the next run with the same settings reuses them (:mod:`verify._reproduce`).
``--jobs N`` (where offered) computes the independent (case, seed) pairs on N worker processes of
one thread each (default: one per usable core; ``--jobs 1`` computes in the command's process);
the numbers do not depend on it (:func:`verify._reproduce.run_seeds`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from ._cli_arguments import count, defer, subcommand


def add_reproduce(commands) -> None:
    reproduce = commands.add_parser(
        "reproduce", help="rerun a paper's experiment at its settings: table, summary.json, figures",
        description="Rerun a paper's experiment at its settings; print a table and write summary.json and "
                    "PNG figures.",
    )
    experiments = reproduce.add_subparsers(title="experiments", metavar="NAME", required=True)
    _add_expansion(experiments)
    _add_slow_modes(experiments)
    _add_residual(experiments)
    _add_effective_lr(experiments)
    _add_anisotropy(experiments)


def _add_expansion(experiments) -> None:
    expansion = subcommand(experiments, "expansion", run_expansion,
                           "the first-order gate expansion check of Livi 2025 (arXiv:2508.12121, appendix)")
    _add_common(expansion, "_reproduce_expansion",
                quick="{quick} seeds instead of {default} (the paper's settings otherwise)", jobs=True,
                convention="exact: the Jacobian (gate term at h_{j-1}, later steps on the left); author: the "
                           "paper's public code (h_j, earlier steps on the left); both side by side (default)")


def _add_common(parser, module_name: str, *, quick: str = "smaller sizes and {quick} seeds: seconds, for tests",
                convention: str | None = None, jobs: bool = False) -> None:
    """``--out``, ``--quick`` (``quick``: its help, with the ``{quick}`` and ``{default}`` seed
    counts) and ``--seeds`` of the reproduction in ``verify.<module_name>``, which defines
    ``DEFAULT_OUT``, ``DEFAULT_SEEDS`` and ``QUICK_SEEDS``, and with ``convention`` (its help)
    ``--convention`` among its ``CONVENTION_CHOICES``, and with ``jobs`` ``--jobs N`` (worker
    processes; default None: one per usable core).  They are added when the reproduction is
    used (:func:`~verify._cli_arguments.defer`): building the command line does not import a
    reproduction (nor NumPy and torch with it)."""
    def add_options(parser) -> None:
        module = importlib.import_module(f"{__package__}.{module_name}")
        parser.add_argument("--out", type=Path, default=module.DEFAULT_OUT, metavar="DIR",
                            help=f"output directory (default ./{module.DEFAULT_OUT})")
        parser.add_argument("--quick", action="store_true",
                            help=quick.format(quick=module.QUICK_SEEDS, default=module.DEFAULT_SEEDS))
        parser.add_argument("--seeds", type=count(1), default=None, metavar="N",
                            help=f"number of seeds 0..N-1 (default {module.DEFAULT_SEEDS}, or {module.QUICK_SEEDS} "
                                 "with --quick)")
        if convention is not None:
            parser.add_argument("--convention", choices=module.CONVENTION_CHOICES, default="both", help=convention)
        if jobs:
            from ._reproduce import usable_cores

            parser.add_argument("--jobs", type=count(1), default=None, metavar="N",
                                help="worker processes, one thread each, computing the seeds side by side (default: "
                                     "one per usable core, here {}; 1: in this process)".format(usable_cores()))

    defer(parser, add_options)


def _add_slow_modes(experiments) -> None:
    parser = subcommand(experiments, "slow-modes", run_slow_modes,
                        "GRU and LSTM Jacobian spectra against the random-matrix predictions: slow modes and the "
                        "stability threshold (Can, Krishnamurthy & Schwab 2020, arXiv:2002.00025)")
    _add_common(parser, "_reproduce_slow_modes")


def _add_residual(experiments) -> None:
    parser = subcommand(experiments, "residual-lyapunov", run_residual,
                        "Lyapunov exponents of weakly coupled residual RNNs against ln|eig R|, O(gamma) and the "
                        "criticality labels (Dubinin & Effenberger 2024, arXiv:2307.14823)")
    _add_common(parser, "_reproduce_residual")


def _add_anisotropy(experiments) -> None:
    parser = subcommand(experiments, "anisotropy", run_anisotropy,
                        "anisotropy of Jacobian products and per-example gradients: gated RNNs + SGD against a "
                        "plain RNN + Adam on five tasks (Livi 2025, arXiv:2508.12121, Section VII-B, S2)")
    _add_common(parser, "_reproduce_anisotropy", jobs=True,
                convention="exact: a fresh batch per step and chain-order products of the Jacobians; author: the "
                           "paper's public code (one batch for every step, reversed products of its factors); "
                           "both side by side (default)")


def _run(function, args: argparse.Namespace, kept: str | None = None, **options) -> int:
    """Call a reproduction with the common options and ``options``, print its table; on Ctrl-C
    say what is ``kept`` (by default: the finished seeds and sweep points in ``--out``) and how
    to resume."""
    kept = f"the finished seeds and sweep points are kept in {args.out}" if kept is None else kept
    try:
        reproduction = function(args.out, seeds=args.seeds, quick=args.quick, **options)
    except KeyboardInterrupt:
        print(f"\ngatejac: {kept}; run the same command again to resume", file=sys.stderr)
        raise
    print()
    print(reproduction.to_text())
    return 0


def _add_effective_lr(experiments) -> None:
    parser = subcommand(experiments, "effective-lr", run_effective_lr,
                        "lag-dependent effective learning rates over training: leaky, scalar and multi-gate cells "
                        "on the adding task (Livi 2025, arXiv:2508.12121, Section VII-A, S1)")
    _add_common(parser, "_reproduce_effective_lr", jobs=True,
                convention="exact: singular values of the chain-order Jacobian products; author: the paper's "
                           "public code (5 power iterations, earlier steps on the left, gate term at h_j); both "
                           "side by side (default)")


def run_effective_lr(args: argparse.Namespace) -> int:
    """The S1 experiment of Livi 2025 (arXiv:2508.12121, Section VII-A) at the paper's
    settings — leaky (alpha = 0.8), scalar and multi-gate cells without biases, adding task,
    T = 80, N = 64, SGD at 1e-2 for 800 steps, probed at iterations 0, 50, 200, 400, 600, 800
    on 12 fixed sequences; 3 seeds by default (about 3 minutes each when the machine is quiet;
    --seeds 20 is the paper's) — under the exact convention, the author's, or both.  Prints s
    and R^2 per model and checkpoint and the exact-vs-author differences; writes summary.json,
    the PNG figures, one JSON per model, convention and seed under DIR/seeds and the training
    checkpoints under DIR/checkpoints (a re-run reuses both)."""
    from ._reproduce_effective_lr import reproduce_effective_lr

    return _run(reproduce_effective_lr, args, f"the finished seeds and training checkpoints are kept in {args.out}",
                convention=args.convention, jobs=args.jobs)


def run_slow_modes(args: argparse.Namespace) -> int:
    """Jacobian spectra of the Chung GRU, torch's GRU and torch's LSTM at the zero fixed point as
    the update / forget gate bias varies (disk centre 1 - z, radius z r sigma), with heterogeneous
    gates (the slow-mode fraction against the closed-gate fraction), at fixed points found by
    Newton, and the phase diagram of the spectral radius over (sigma_h, b_r) through the sweep
    engine against the threshold r sigma_h = 1; writes summary.json, five PNG figures, the
    per-seed results and the sweep's store under DIR (a re-run reuses them)."""
    from ._reproduce_slow_modes import reproduce_slow_modes

    return _run(reproduce_slow_modes, args)


def run_residual(args: argparse.Namespace) -> int:
    """The WCRNN's Lyapunov spectrum against ln|eig R| for homogeneous, rotational and
    heterogeneous residuals (exact at gamma = 0), the O(gamma) deviation as gamma halves, and
    the sub-/critical/super-critical labels of R = lambda I, through the sweep engine; writes
    summary.json, three PNG figures, the per-seed results and the sweeps' stores under DIR (a
    re-run reuses them)."""
    from ._reproduce_residual import reproduce_residual

    return _run(reproduce_residual, args)


def run_anisotropy(args: argparse.Namespace) -> int:
    """Experiment S2 of Livi 2025 (arXiv:2508.12121, Section VII-B) at the paper's settings:
    plain RNN + Adam (1e-3), scalar gate + SGD and multi-gate + SGD (1e-2) on adding, ar2,
    movingavg, delaysum and narma10 (T = 120, N = 64, M = 6, 1201 updates, checkpoints 0, 400,
    800, 1200); at each checkpoint AI and CE of Jacobian products against the lag and of the
    per-example gradient directions; writes summary.json, three PNG figures, one JSON per
    case, convention and seed under DIR/seeds and the training checkpoints under DIR/training
    (a re-run reuses them)."""
    from ._reproduce_anisotropy import reproduce_anisotropy

    return _run(reproduce_anisotropy, args, f"the finished seeds and training checkpoints are kept in {args.out}",
                convention=args.convention, jobs=args.jobs)


def run_expansion(args: argparse.Namespace) -> int:
    """The first-order gate expansion check of Livi 2025 (arXiv:2508.12121, appendix) at the
    paper's settings — scalar and multi-gate cells without biases, T = 100, N = 64, M = 3,
    weights N(0, 0.2²), h0 = 0, a noisy sinusoidal input, the 11-point ε grid 1e-5 … 1, 20
    seeds with the 1.5·IQR outlier rule — under the exact convention, the author's, or both.
    Prints the slope of the truncation error (≈ 2), C2 against ‖c2‖_F, E_trunc(1), the ratios
    r_j = ‖B_j‖₂/‖A_j‖₂ and the largest |A + B − J| against autograd; writes summary.json, four
    PNG figures, and one JSON per gate, convention and seed under DIR/seeds (a re-run reuses
    them)."""
    from ._reproduce import SEEDS_DIRECTORY
    from ._reproduce_expansion import reproduce_expansion

    return _run(reproduce_expansion, args, f"the finished seeds are kept in {args.out / SEEDS_DIRECTORY}",
                convention=args.convention, jobs=args.jobs)
