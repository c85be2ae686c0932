"""``gatejac sweep``: a quantity over a grid of settings × seeds on Dask, into a resumable zarr
store (:mod:`verify._sweep`).

    gatejac sweep largest_exponent --set cell=gru_chung --set n=128 \\
        --grid gain_W_h=0.5:2.5:9 --grid b_r=-2,0,2 --seeds 8 --out phase.zarr

QUANTITY is a name of the registry or ``path/to/file.py:NAME``, a function of a point (the
file is imported, and sent to the workers by value, so they need not find it on their path).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._cli_arguments import count, defer, is_file_target, option, subcommand


def add_sweep(commands) -> None:
    """Register ``gatejac sweep`` on the subcommands ``commands`` (its options are added when it is used)."""
    parser = subcommand(commands, "sweep", _sweep, "evaluate a quantity over a grid of settings × seeds on Dask")
    defer(parser, _add_options)


def _add_options(parser: argparse.ArgumentParser) -> None:
    from ._sweep_quantities import QUANTITIES  # NumPy and numeric load only when `gatejac sweep` is used

    parser.add_argument("quantity", metavar="QUANTITY",
                        help=f"one of {', '.join(QUANTITIES)}, or path/to/file.py:NAME (a function of a point)")
    parser.add_argument("--set", dest="settings", action="append", default=[], type=option, metavar="KEY=VALUE",
                        help="a fixed setting, e.g. cell=gru_chung, n=128, b_z=-2 (repeatable)")
    parser.add_argument("--grid", action="append", default=[], type=axis, metavar="KEY=V1,V2,…|KEY=START:STOP:NUM",
                        help="a swept setting and its values, listed or evenly spaced (repeatable; the order "
                             "of the dimensions)")
    parser.add_argument("--seeds", type=seeds, default=1, metavar="N|S1,S2,…",
                        help="seeds 0..N−1, or the seeds listed (default 1)")
    parser.add_argument("--out", type=Path, required=True, metavar="STORE.zarr",
                        help="the zarr store; an existing store of the same sweep is resumed")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="an existing Dask cluster (tcp://host:8786); default: a local cluster")
    parser.add_argument("--workers", type=count(1), default=2, help="local worker processes (default 2)")
    parser.add_argument("--threads-per-worker", type=count(1), default=1,
                        help="threads per worker, and the limit of each thread pool in it (default 1)")
    parser.add_argument("--seeds-per-chunk", type=count(1), default=None,
                        help="store chunks of this many seeds of one grid point (default: every seed of a grid "
                             "point and neighbours along the last grid axes, up to 32 points, at least 32 chunks)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _sweep(args: argparse.Namespace) -> int:
    """Evaluate QUANTITY at every point of the grid (--grid, one dimension each) times the
    seeds, with the --set settings fixed, on a local Dask cluster of worker processes (or the
    one at --scheduler), writing the points to the zarr store --out as they are computed (in
    chunks of up to 32 points, each stored when finished or after 0.25 s of unstored work).
    Run it again with the same arguments to resume an interrupted sweep: stored points are not
    recomputed.  Prints the mean over seeds at each grid point.

    Settings: cell (a catalogue name), its options and sizes (n, m), scheme, gain,
    gain_<MATRIX> (a factor on one weight matrix: gain_W_h is σ_h), a parameter name with a
    number (a bias, a gate gain, gamma, lam; R=0.9 is 0.9·I), steps, burn_in, input_scale,
    state_scale (see docs/sweeps.md).  Needs the ``sweeps`` extra: pip install 'gatejac[sweeps]'."""
    from ._sweep import sweep
    from ._sweep_errors import require_sweep_libraries

    require_sweep_libraries()  # before a file quantity is loaded with cloudpickle

    quantity = _function(args.quantity) if is_file_target(args.quantity) else args.quantity
    dataset = sweep(quantity, dict(args.grid), args.seeds, settings=dict(args.settings), out=args.out,
                    scheduler=args.scheduler, workers=args.workers, threads_per_worker=args.threads_per_worker,
                    seeds_per_chunk=args.seeds_per_chunk, progress=not args.quiet)
    name = dataset.attrs["quantity"]
    means = dataset[name].mean("seed").to_dataframe()[[name]]
    print(f"{name} ({dataset.attrs['units'] or 'value'}), mean over {dataset.sizes['seed']} seeds; "
          f"all {int(dataset['done'].sum())} points in {args.out}")
    print(means.to_string())
    return 0


def _function(target: str):
    """The function NAME of path/to/file.py, registered with cloudpickle to travel by value."""
    import cloudpickle

    from gatejac.symbolic import unknown_name

    from ._target import import_file

    path_text, _, name = target.rpartition(":")
    module = import_file(Path(path_text))
    functions = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
    if name not in functions:
        raise unknown_name("function", name, functions, f"(in {path_text})")
    sys.modules[module.__name__] = module
    cloudpickle.register_pickle_by_value(module)
    return getattr(module, name)


# ---------------------------------------------------------------------- argument types
def axis(text: str) -> tuple[str, list]:
    """``b_r=-1,0,1`` → ``("b_r", [-1, 0, 1])``; ``gain_W_h=0.5:2:4`` → 4 values evenly spaced
    from 0.5 to 2 (both included); values read as Python literals, else strings."""
    key, sep, values = text.partition("=")
    if not sep or not key.isidentifier() or not values:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=V1,V2,… or KEY=START:STOP:NUM")
    parts = values.split(":")
    if len(parts) == 3:
        try:
            start, stop, number = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: START:STOP:NUM needs two numbers and a count") from None
        if number < 1:
            raise argparse.ArgumentTypeError(f"{text!r}: NUM must be at least 1")
        import numpy as np  # not at the top: building the parser does not import NumPy

        return key, [float(v) for v in np.linspace(start, stop, number)]
    return key, [option(f"{key}={v.strip()}")[1] for v in values.split(",") if v.strip()]


def seeds(text: str):
    """``8`` → 8 (seeds 0..7); ``0,3,7`` → [0, 3, 7]."""
    try:
        parts = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        parts = []
    if not parts or min(parts) < 0 or ("," not in text and parts[0] < 1):
        raise argparse.ArgumentTypeError(f"{text!r} is not a count ≥ 1 or a list of seeds ≥ 0 (e.g. 8 or 0,3,7)")
    return parts if "," in text else parts[0]
