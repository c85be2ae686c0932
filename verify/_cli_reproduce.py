"""``gatejac reproduce NAME``: rerun a paper's experiment at its settings, print a short table
and write a summary and figures.

    gatejac reproduce expansion [--out DIR] [--quick] [--seeds N] [--convention exact|author|both]

Each reproduction is a function of :mod:`verify` (``verify.reproduce_expansion``) that returns
a :class:`~verify.Reproduction`; this module only parses the options, calls it and prints its
table.  Progress goes to stderr; an interrupted run (Ctrl-C, exit code 130) keeps every
finished seed, and the next run with the same settings reuses them (:mod:`verify._reproduce`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._cli_arguments import count, subcommand
from ._reproduce import SEEDS_DIRECTORY


def add_reproduce(commands) -> None:
    reproduce = commands.add_parser(
        "reproduce", help="rerun a paper's experiment at its settings: table, summary.json, figures",
        description="Rerun a paper's experiment at its settings; print a table and write summary.json and "
                    "PNG figures.",
    )
    experiments = reproduce.add_subparsers(title="experiments", metavar="NAME", required=True)
    _add_expansion(experiments)


def _add_expansion(experiments) -> None:
    from ._reproduce_expansion import CONVENTION_CHOICES, DEFAULT_OUT, DEFAULT_SEEDS, QUICK_SEEDS

    expansion = subcommand(experiments, "expansion", run_expansion,
                           "the first-order gate expansion check of Livi 2025 (arXiv:2508.12121, appendix)")
    expansion.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                           help=f"output directory (default ./{DEFAULT_OUT})")
    expansion.add_argument("--quick", action="store_true",
                           help=f"{QUICK_SEEDS} seeds instead of {DEFAULT_SEEDS} (the paper's settings otherwise)")
    expansion.add_argument("--seeds", type=count(1), default=None, metavar="N",
                           help=f"number of seeds 0..N-1 (default {DEFAULT_SEEDS}, or {QUICK_SEEDS} with --quick)")
    expansion.add_argument("--convention", choices=CONVENTION_CHOICES, default="both",
                           help="exact: the Jacobian (gate term at h_{j-1}, later steps on the left); author: the "
                                "paper's public code (h_j, earlier steps on the left); both side by side (default)")


def run_expansion(args: argparse.Namespace) -> int:
    """The first-order gate expansion check of Livi 2025 (arXiv:2508.12121, appendix) at the
    paper's settings — scalar and multi-gate cells without biases, T = 100, N = 64, M = 3,
    weights N(0, 0.2²), h0 = 0, a noisy sinusoidal input, the 11-point ε grid 1e-5 … 1, 20
    seeds with the 1.5·IQR outlier rule — under the exact convention, the author's, or both.
    Prints the slope of the truncation error (≈ 2), C2 against ‖c2‖_F, E_trunc(1), the ratios
    r_j = ‖B_j‖₂/‖A_j‖₂ and the largest |A + B − J| against autograd; writes summary.json, four
    PNG figures, and one JSON per gate, convention and seed under DIR/seeds (a re-run reuses
    them)."""
    from ._reproduce_expansion import reproduce_expansion

    try:
        reproduction = reproduce_expansion(args.out, seeds=args.seeds, convention=args.convention, quick=args.quick)
    except KeyboardInterrupt:
        print(f"\ngatejac: the finished seeds are kept in {args.out / SEEDS_DIRECTORY}; run the same command again "
              "to resume", file=sys.stderr)
        raise
    print()
    print(reproduction.to_text())
    return 0
