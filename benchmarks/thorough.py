"""Thorough run: the oracle-agreement property of the tests under the ``gatejac-thorough`` profile.

Run:  .venv/bin/python benchmarks/thorough.py [--examples 10000] [--random-examples 300] [--seed S]

The property is the one ``tests/test_strategies.py`` runs under ``gatejac-ci``: an example is a
catalogue cell (every ``symbolic.cells.variants()`` entry), sizes n, m ∈ {2..6}, a batch of 1–4
samples, a kernel backend (numpy / torch) and dtype (float64 / float32), a point drawn by
``verify.strategies.values`` and one of the cell's parameters.  At that point the float64
kernels' state Jacobian and that parameter's Jacobian are compared with every oracle — ``ad``
(torch.func through the step), ``fd`` (central differences), ``taylor`` (remainder slope),
``complex_step`` — at the tolerances of ``verify._tolerances``, and for float32 examples the
float32 kernels with the float64 ones (``reference``).  Every example runs every oracle, so
``--examples`` is the count per oracle (``reference``: the float32 share of it).

Unlike the test, the property here never raises: a disagreement is counted (and the first
few printed with their example) and the run goes on, so the table reports the false alarms
out of every example.  The catalogue kernels are verified elsewhere (``gatejac verify``,
the mutation suite), so on catalogue cells every disagreement is a false alarm.

``--random-examples`` runs the ``ad`` comparison on random cells (``verify.strategies.
cells(catalogue=False, max_depth=2)``; each new cell is derived and compiled, so this is
slower per example).  There a disagreement or an exception can be a real kernel bug: a
mismatch is confirmed when central differences disagree with the kernel as well, and
exceptions are counted by kind.

The Hypothesis seed is printed (``--seed`` repeats a run).  Progress goes to stderr, the
markdown summary to stdout.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

from hypothesis import Phase, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_strategies import ORACLES, examples, oracle_failures  # noqa: E402  (the tests' property)

from gatejac.verify.strategies import cells  # noqa: E402

SHOWN_FAILURES = 3


class Tally:
    """Examples and failures per oracle, cells covered, and the first failures' descriptions."""

    def __init__(self):
        self.examples, self.failures = Counter(), Counter()
        self.cells, self.kinds = Counter(), Counter()
        self.shown: list[str] = []
        self.start = time.perf_counter()

    def add(self, example, failures: dict[str, list[str]]) -> None:
        self.cells[example.cell.description] += 1
        self.kinds[f"{example.backend} {example.dtype}"] += 1
        for oracle, found in failures.items():
            self.examples[oracle] += 1
            if found:
                self.failures[oracle] += 1
                if len(self.shown) < SHOWN_FAILURES:
                    self.shown.append(f"{example.describe()}\n  " + "\n  ".join(found))

    def progress(self, label: str, every: int) -> None:
        done = sum(self.cells.values())
        if done % every == 0:
            print(f"[{label}] {done} examples, {time.perf_counter() - self.start:.0f} s, "
                  f"failures {dict(self.failures) or 0}", file=sys.stderr, flush=True)


def thorough_settings(max_examples: int) -> settings:
    """The ``gatejac-thorough`` profile with ``max_examples`` and no example database or shrinking
    (the property never fails)."""
    return settings(settings.get_profile("gatejac-thorough"), max_examples=max_examples, database=None,
                    phases=(Phase.generate,))


def run_catalogue(max_examples: int, run_seed: int) -> Tally:
    tally = Tally()

    @seed(run_seed)
    @thorough_settings(max_examples)
    @given(examples(cells(random=False)))
    def oracles_agree(example):
        tally.add(example, oracle_failures(example, ORACLES))
        tally.progress("catalogue", 500)

    oracles_agree()
    return tally


def _kind(error: Exception) -> str:
    """An exception's kind with names and numbers blanked, so one bug counts once."""
    text = re.sub(r"'\w+'", "'…'", f"{type(error).__name__}: {error}".splitlines()[0])
    return re.sub(r"\d+", "N", text)[:100]


def run_random(max_examples: int, run_seed: int) -> tuple[Tally, Counter, int]:
    """AD against the kernels of random cells: (tally, exceptions by kind, mismatches that
    central differences confirm)."""
    tally, errors, confirmed = Tally(), Counter(), [0]

    @seed(run_seed)
    @thorough_settings(max_examples)
    @given(st.data())
    def ad_agrees(data):
        cell = data.draw(cells(catalogue=False, max_depth=2), label="cell")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                example = data.draw(examples(st.just(cell)), label="example")
                failures = oracle_failures(example, ("ad",))
                if failures["ad"] and oracle_failures(example, ("fd",))["fd"]:
                    confirmed[0] += 1
        except Exception as error:  # noqa: BLE001 - a kernel that raises is what we count here
            errors[_kind(error)] += 1
            tally.cells["(raised)"] += 1
            return
        tally.add(example, failures)
        tally.progress("random", 50)

    ad_agrees()
    return tally, errors, confirmed[0]


def summary(catalogue: Tally, wall: float, run_seed: int, random_run) -> str:
    profile = settings.get_profile("gatejac-thorough")
    lines = [
        f"Profile `gatejac-thorough` (max_examples={profile.max_examples}, derandomize={profile.derandomize}, "
        f"print_blob={profile.print_blob}, deadline={profile.deadline}), Hypothesis seed {run_seed} "
        f"(repeat: `benchmarks/thorough.py --seed {run_seed}`), {os.cpu_count()} cores.",
        "",
        "Catalogue cells: each example checks the state Jacobian and one parameter Jacobian.",
        "",
        "| oracle | examples | false alarms | comparisons |",
        "|---|---:|---:|---:|",
    ]
    for oracle in (*ORACLES, "reference"):
        name = "reference (float32 vs float64 kernels)" if oracle == "reference" else oracle
        lines.append(f"| {name} | {catalogue.examples[oracle]} | {catalogue.failures[oracle]} | "
                     f"{2 * catalogue.examples[oracle]} |")
    counts = catalogue.cells.values()
    lines += ["", f"Wall time (catalogue): {wall:.0f} s for {sum(counts)} examples "
              f"({1e3 * wall / max(1, sum(counts)):.1f} ms each, every oracle).  "
              f"Catalogue variants covered: {len(catalogue.cells)} (examples per variant: "
              f"{min(counts)}–{max(counts)}); kernels: "
              + ", ".join(f"{k} {v}" for k, v in sorted(catalogue.kinds.items())) + "."]
    if catalogue.shown:
        lines += ["", "First false alarms:", "", "```", *catalogue.shown, "```"]
    if random_run is not None:
        tally, errors, confirmed, random_wall = random_run
        raised = sum(errors.values())
        lines += ["", f"Random cells, `ad` only: {tally.examples['ad'] + raised} examples in {random_wall:.0f} s; "
                  f"{tally.examples['ad']} ran, of which {tally.failures['ad']} disagreed with AD "
                  f"({confirmed} confirmed by central differences: kernel bugs); {raised} raised in the kernels"
                  + (":" if raised else ".")]
        lines += [f"- {count}× {kind}" for kind, count in errors.most_common()]
        if tally.shown:
            lines += ["", "First AD disagreements on random cells:", "", "```", *tally.shown, "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="catalogue examples (each runs every oracle)")
    parser.add_argument("--random-examples", type=int, default=300, help="random-cell examples for ad (0: skip)")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: a fresh one)")
    args = parser.parse_args(argv)
    run_seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    start = time.perf_counter()
    catalogue = run_catalogue(args.examples, run_seed)
    wall = time.perf_counter() - start
    random_run = None
    if args.random_examples > 0:
        start = time.perf_counter()
        tally, errors, confirmed = run_random(args.random_examples, run_seed)
        random_run = (tally, errors, confirmed, time.perf_counter() - start)
    print(summary(catalogue, wall, run_seed, random_run))
    return 0 if not sum(catalogue.failures.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
