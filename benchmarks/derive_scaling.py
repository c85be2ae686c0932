"""Derivation cost: the whole catalogue, and one cell at n = 8 against n = 1024.

Run from the project root::

    .venv/bin/python benchmarks/derive_scaling.py [--repeats 7]

Every sample builds a fresh cell with ``symbolic.cells.get(name, n=...)`` and derives it
with ``symbolic.derive``, starting from an empty SymPy cache (``clear_cache``), so each
sample pays the cost a first call pays and no sample reuses another's cached expressions.
Samples of the sizes being compared are interleaved within each repeat so that load on
the machine affects them alike.  Reported figures are medians over the repeats.

Two clocks are read: wall time (what a user waits) and the CPU time of this process
(``time.process_time``).  The size comparison uses CPU time: deriving is single-threaded
and CPU-bound, and on a shared machine wall time also counts the time other jobs hold
the core (measured on the 2-core development machine under load from other jobs: the
wall-time ratio 1024 / 8 for ``lstm_torch`` came out between 0.79 and 1.30 across runs,
the CPU-time ratio between 0.96 and 1.08).

Bars (gatejac issue 2):

* building and deriving every catalogue cell (default options) takes < 5 s in total;
* one cell's time with n declared 1024 is within ±20 % of its time with n declared 8
  (the symbolic ``n`` is shown for reference).

Prints a Markdown table for the README and exits with status 1 if a bar is missed.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from typing import NamedTuple

import sympy
from sympy.core.cache import clear_cache

from gatejac.symbolic import cells, derive

CATALOGUE_BAR_SECONDS = 5.0
RATIO_TOLERANCE = 0.20
SCALING_CELLS = ("leaky", "multi_gate", "gru_torch", "lstm_torch")
SIZES = {"n = 8": 8, "n = 1024": 1024, "symbolic n": "n"}


class Seconds(NamedTuple):
    wall: float
    cpu: float


def build_and_derive_seconds(name: str, **options) -> Seconds:
    """Wall and CPU time of ``derive(cells.get(name, **options))`` from an empty SymPy cache."""
    clear_cache()
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    derive(cells.get(name, **options))
    return Seconds(time.perf_counter() - wall, time.process_time() - cpu)


def catalogue_seconds(repeats: int) -> Seconds:
    """Medians over ``repeats`` of the total time to build and derive every catalogue cell."""
    walls, cpus = [], []
    for _ in range(repeats):
        samples = [build_and_derive_seconds(name) for name in cells.names()]
        walls.append(sum(sample.wall for sample in samples))
        cpus.append(sum(sample.cpu for sample in samples))
    return Seconds(statistics.median(walls), statistics.median(cpus))


def scaling_seconds(name: str, repeats: int) -> dict[str, float]:
    """Median build-and-derive CPU time of cell ``name`` for each declared size in ``SIZES``."""
    samples: dict[str, list[float]] = {label: [] for label in SIZES}
    for _ in range(repeats):
        for label, n in SIZES.items():
            samples[label].append(build_and_derive_seconds(name, n=n).cpu)
    return {label: statistics.median(times) for label, times in samples.items()}


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def catalogue_table(total: Seconds, count: int) -> tuple[list[str], bool]:
    passed = total.wall < CATALOGUE_BAR_SECONDS
    lines = [
        "| measurement | wall time | CPU time | bar (wall) | result |",
        "|---|---:|---:|---|---|",
        f"| build + derive all {count} catalogue cells | {total.wall:.2f} s | {total.cpu:.2f} s "
        f"| < {CATALOGUE_BAR_SECONDS:g} s | {verdict(passed)} |",
    ]
    return lines, passed


def scaling_table(medians: dict[str, dict[str, float]]) -> tuple[list[str], bool]:
    low, high = 1 - RATIO_TOLERANCE, 1 + RATIO_TOLERANCE
    lines = [
        f"| cell (CPU time) | {' | '.join(SIZES)} | ratio 1024 / 8 | bar | result |",
        "|---|" + "---:|" * (len(SIZES) + 1) + "---|---|",
    ]
    all_passed = True
    for name, by_size in medians.items():
        ratio = by_size["n = 1024"] / by_size["n = 8"]
        passed = low <= ratio <= high
        all_passed &= passed
        times = " | ".join(milliseconds(by_size[label]) for label in SIZES)
        lines.append(f"| {name} | {times} | {ratio:.2f} | {low:.2f}–{high:.2f} | {verdict(passed)} |")
    return lines, all_passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="samples per median (default 7)")
    repeats = parser.parse_args(argv).repeats

    build_and_derive_seconds(cells.names()[0])  # warm-up: imports and first-call setup, not timed
    started = time.perf_counter()
    catalogue, catalogue_ok = catalogue_table(catalogue_seconds(repeats), len(cells.names()))
    scaling, scaling_ok = scaling_table({name: scaling_seconds(name, repeats) for name in SCALING_CELLS})
    elapsed = time.perf_counter() - started

    print(
        f"Derivation cost, medians of {repeats} repeats (fresh cell + derive, empty SymPy cache); "
        f"CPython {platform.python_version()}, SymPy {sympy.__version__}, {platform.machine()}.\n"
    )
    print("\n".join(catalogue))
    print()
    print("\n".join(scaling))
    print(f"\n(benchmark ran in {elapsed:.1f} s)")
    return 0 if catalogue_ok and scaling_ok else 1


if __name__ == "__main__":
    sys.exit(main())
