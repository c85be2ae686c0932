"""What every ``gatejac reproduce NAME`` shares: the output directory, per-seed results that
survive an interruption, seeded random streams, the statistics over seeds, the summary file
and the printed table.

A reproduction runs one computation per (case, seed) — e.g. per gate type, convention and
seed — and then summarises over seeds.  Nothing is lost when it is interrupted:

* every finished (case, seed) result is written at once to ``DIR/seeds/CASE-seedNN.json``
  together with the settings it was computed at (:class:`SeedStore`);
* a re-run with the same settings reads those files back instead of recomputing them; a file
  written at other settings (or by another results format) is recomputed and replaced;
* the summary (``DIR/summary.json``) and the figures are written last, each atomically
  (:mod:`verify._cli_output`): a reader sees the previous file or the new one, never a part.

Worker processes (``jobs``, the ``--jobs N`` option): the (case, seed) computations still to
do are independent, so :func:`run_seeds` can run them on ``jobs`` spawn-started worker
processes (:class:`concurrent.futures.ProcessPoolExecutor`), each limited to one thread (torch,
numba, and the BLAS / OpenMP pools through threadpoolctl) so that the workers do not oversubscribe the
cores; ``None`` means one per usable core (``len(os.sched_getaffinity(0))``), never more than
the computations pending, and ``jobs=1`` computes in this process.  The parent writes each
result as it arrives, so Ctrl-C (the workers ignore it; the parent cancels what has not started
and stops the workers) keeps every finished (case, seed).  The computation must then be
picklable — a module-level function, or a :func:`functools.partial` of one with its settings.
A computation's numbers do not depend on the process it runs in (same seeds, same numbers) as
long as the thread counts agree: a worker uses one thread, as does a run under
``OMP_NUM_THREADS=1``.

Seeds: a reproduction's random draws for seed ``s`` and purpose ``p`` (``"inputs"``, ...) come
from NumPy's generator seeded by ``(s, crc32(p))`` (:func:`random_stream`), so adding a new
purpose never shifts the numbers of an existing one.

Outliers over seeds (:func:`iqr_outliers`): Tukey's rule — a value outside
[Q₁ − 1.5·IQR, Q₃ + 1.5·IQR] of all seeds, or a value that is not finite.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import multiprocessing
import os
import signal
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import numpy as np

import gatejac
from gatejac.symbolic import GatejacError

from . import _cli_output as output
from ._progress import Progress
from ._sweep_cluster import limit_threads

DEFAULT_ROOT = Path("gatejac-reproduce")
"""``gatejac reproduce NAME`` writes to ``DEFAULT_ROOT / NAME`` unless ``--out`` says otherwise."""
SUMMARY_FILE = "summary.json"
SEEDS_DIRECTORY = "seeds"


class ReproduceError(GatejacError, ValueError):
    """A reproduction was asked for with an invalid option (seed count, convention, output
    directory); the message names the option, the value and what to give instead."""


ReproduceError.__module__ = "gatejac.verify"


# ---------------------------------------------------------------------- the result
@dataclass(frozen=True)
class Reproduction:
    """What a reproduction wrote: its ``directory``, the ``summary`` (the content of
    ``summary.json``), every file written (``files``: the summary and the figures), the
    printed ``table`` and how many seed results were reused from an earlier run (``reused``)
    or computed now (``computed``)."""

    name: str
    directory: Path
    summary: dict
    files: tuple[Path, ...]
    table: str
    reused: int = 0
    computed: int = 0
    seconds: float = field(default=0.0, compare=False)

    def to_text(self) -> str:
        """The table, then where the files are and how long it took."""
        counts = f"{self.computed} computed, {self.reused} reused from an earlier run"
        return f"{self.table}\n\n{len(self.files)} files in {self.directory} ({counts}; {self.seconds:.1f} s)"


# ---------------------------------------------------------------------- settings
@dataclass(frozen=True)
class ReproductionSettings:
    """The base of a reproduction's settings (a frozen dataclass of its own fields):
    :meth:`to_dict` is the fields, then ``fixed`` (what the reproduction holds fixed without a
    field), then ``results_format`` (bumped whenever a per-seed result changes meaning, so that
    stored results of another format are recomputed) — the settings a per-seed result is
    stored with (:class:`SeedStore`)."""

    fixed: ClassVar[Mapping] = {}
    results_format: ClassVar[int] = 1

    def to_dict(self) -> dict:
        return {**asdict(self), **self.fixed, "results_format": self.results_format}

    @classmethod
    def from_mapping(cls, mapping: Mapping):
        """The settings stored in a mapping such as a sweep point's settings (lists back to tuples)."""
        return cls(**{f.name: tuple(mapping[f.name]) if isinstance(mapping[f.name], list) else mapping[f.name]
                      for f in fields(cls)})


# ---------------------------------------------------------------------- options
def check_seed_count(seeds) -> int:
    """``seeds`` as an int ≥ 1, or a :class:`ReproduceError` naming it."""
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise ReproduceError(f"seeds={seeds!r} must be a positive integer (the number of seeds, e.g. 20)")
    return int(seeds)


def usable_cores() -> int:
    """The number of cores this process may run on (``len(os.sched_getaffinity(0))``)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_jobs(jobs) -> int:
    """The number of worker processes: ``jobs`` as an int ≥ 1, :func:`usable_cores` for None,
    or a :class:`ReproduceError` naming it."""
    if jobs is None:
        return usable_cores()
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise ReproduceError(f"jobs={jobs!r} must be a positive integer (the number of worker processes, e.g. "
                             f"{usable_cores()} for one per usable core; 1 computes in this process)")
    return int(jobs)


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else a :class:`ReproduceError` listing them."""
    if value not in choices:
        raise ReproduceError(f"{name}={value!r} is not one of {', '.join(map(repr, choices))}")
    return value


def seed_count(seeds, quick: bool, default: int, quick_default: int) -> int:
    """The checked number of seeds: ``seeds`` if given, else ``quick_default`` with ``quick``
    and ``default`` without (:func:`check_seed_count`)."""
    return check_seed_count(seeds if seeds is not None else quick_default if quick else default)


def prepare_directory(out, figures: Sequence[str] = ()) -> Path:
    """Create ``out`` and ``out/seeds`` (with parents) and check that files can be written
    there — the summary, the per-seed results and each of ``figures`` (file names) — before
    any work: a :class:`ReproduceError` names the path and the reason if not."""
    directory = Path(out)
    try:
        (directory / SEEDS_DIRECTORY).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReproduceError(f"cannot use {str(directory)!r} as the output directory: {exc.strerror or exc}; "
                             "give --out a writable directory (nothing was run)") from None
    output.claim(directory / SUMMARY_FILE, "the summary")
    output.claim(directory / SEEDS_DIRECTORY / "seed.json", "the per-seed results")
    for name in figures:
        output.claim(directory / name, "a figure")
    return directory


def random_stream(seed: int, purpose: str) -> np.random.Generator:
    """NumPy's generator for seed ``seed`` and ``purpose`` (see the module docstring)."""
    return np.random.default_rng([int(seed), zlib.crc32(purpose.encode())])


# ---------------------------------------------------------------------- per-seed results
class SeedStore:
    """Per-(case, seed) results under ``directory/seeds``, valid only for ``settings`` (a
    JSON-able mapping; it should include a results-format number that changes whenever what
    is stored changes)."""

    def __init__(self, directory: Path, settings: Mapping):
        self.directory = Path(directory) / SEEDS_DIRECTORY
        self.settings = json.loads(json.dumps(settings))  # as it reads back from a file

    def path(self, case: str, seed: int) -> Path:
        return self.directory / f"{case}-seed{seed:02d}.json"

    def load(self, case: str, seed: int) -> dict | None:
        """The stored result of ``case`` at ``seed``, or None when there is none, it is
        unreadable (e.g. a file truncated by hand), or it was computed at other settings."""
        try:
            stored = json.loads(self.path(case, seed).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("settings") != self.settings:
            return None
        return stored.get("result")

    def save(self, case: str, seed: int, result: Mapping) -> None:
        """Write ``result`` atomically with the settings and the gatejac version; raise
        :class:`ReproduceError` if it cannot be written."""
        document = {"case": case, "seed": seed, "gatejac": gatejac.__version__, "settings": self.settings,
                    "result": result}
        text = json.dumps(document, indent=1, allow_nan=True)
        write_file(self.path(case, seed), text, "a per-seed result", quiet=True)  # a line per seed would bury the table


def run_seeds(store: SeedStore, cases: Sequence[str], seeds: int, compute: Callable, *, label: str,
              progress: bool = True, parts: Sequence[str] | None = None, jobs: int | None = 1,
              separate_parts: bool = False, cost: Callable | None = None) -> tuple[dict, int, int]:
    """Every (case, seed 0..seeds−1) result, read back from ``store`` or computed now and saved
    at once, under a :class:`~verify._progress.Progress` bar of ``label`` (on stderr unless
    ``progress`` is False); ``(results, reused, computed)`` with ``results[case]`` the list over
    seeds and the counts of (case, seed) pairs read back and computed.

    Without ``parts``, ``compute(case, seed)`` gives the result stored as ``case``.  With
    ``parts`` each part of a (case, seed) is its own file ``CASE-PART``: ``compute(case, seed,
    missing)`` gives ``{part: result}`` for the parts not stored yet, and ``results[case]``
    holds ``{part: result}`` per seed.  With ``separate_parts`` (for parts that are independent
    computations, such as the conventions of a reproduction that trains once per convention)
    each missing part is its own call ``compute(case, seed, [part])``: twice the computations
    for two parts, half as long each, so that worker processes share the work more evenly.

    ``jobs`` (:func:`check_jobs`; None: one per usable core) worker processes compute the
    pending calls, at most one per call; with one, they are computed here, in order.  Several
    need a picklable ``compute`` (module docstring: “Worker processes”) and start the calls
    longest first when ``cost(case, part)`` (``part`` None without parts) estimates a part's
    cost: a call's cost is the sum over its parts, and the calls are handed to the workers in
    decreasing cost (ties in order), so no long call starts last while the other workers
    idle (Graham's longest-processing-time rule, within 4/3 of the best schedule).  Where a
    call runs never changes its numbers.  The bar advances as each (case, seed) is
    complete."""
    jobs = check_jobs(jobs)
    keys = [None] if parts is None else list(parts)

    def name(case, part):
        return case if part is None else f"{case}-{part}"

    stored = {(case, seed): {part: store.load(name(case, part), seed) for part in keys}
              for case in cases for seed in range(seeds)}
    pending = {pair: [part for part in keys if found[part] is None] for pair, found in stored.items()}
    pending = {pair: missing for pair, missing in pending.items() if missing}

    calls = [(pair, [part]) for pair, missing in pending.items() for part in missing] if separate_parts else \
        list(pending.items())
    left = Counter(pair for pair, _ in calls)  # calls to come per (case, seed)
    with Progress(len(stored), label, enabled=progress) as bar:
        def finish(index, fresh):
            pair = calls[index][0]
            for part, result in fresh.items():
                store.save(name(pair[0], part), pair[1], result)
                stored[pair][part] = result
            left[pair] -= 1
            if not left[pair]:
                bar.advance(f"{pair[0]} seed {pair[1]}")

        if len(stored) > len(pending):
            bar.skip(len(stored) - len(pending), "reused from an earlier run")
        arguments = [(compute, parts is not None, *pair, missing) for pair, missing in calls]
        if min(jobs, len(calls)) <= 1:
            for index, call in enumerate(arguments):
                finish(index, _compute(*call))
        else:
            _in_workers(arguments, min(jobs, len(calls)), finish, _longest_first(calls, cost))
    results = {case: [stored[case, seed][None] if parts is None else stored[case, seed] for seed in range(seeds)]
               for case in cases}
    return results, len(stored) - len(pending), len(pending)


def _compute(compute: Callable, with_parts: bool, case: str, seed: int, missing: list) -> dict:
    """``{part: result}`` of one (case, seed) (:func:`run_seeds`; ``{None: result}`` without parts)."""
    return compute(case, seed, missing) if with_parts else {None: compute(case, seed)}


def _longest_first(calls: Sequence[tuple], cost: Callable | None) -> list[int]:
    """The indices of ``calls`` (``((case, seed), parts)``) by decreasing ``cost`` summed over
    each call's parts, ties (and every call without ``cost``) in their given order."""
    if cost is None:
        return list(range(len(calls)))
    costs = [sum(cost(case, part) for part in parts) for (case, _), parts in calls]
    return sorted(range(len(calls)), key=lambda index: -costs[index])


def _in_workers(calls: Sequence[tuple], jobs: int, finish: Callable, order: Sequence[int]) -> None:
    """Run each of ``calls`` (the arguments of :func:`_compute`) on ``jobs`` spawn-started worker
    processes, submitted in ``order`` (indices into ``calls``; the pool starts them first in, first
    out), calling ``finish(index in calls, result)`` here as each result arrives.  On any exception
    here (Ctrl-C: KeyboardInterrupt) the calls not started are cancelled and the workers
    stopped before it propagates; a computation's own exception propagates the same way."""
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start)
    try:
        futures = {pool.submit(_compute, *calls[index]): index for index in order}
        for future in as_completed(futures):
            finish(futures[future], future.result())
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown()


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the pool's pending calls and end its workers without waiting for running ones."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # the stdlib has no public way before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


def _worker_start() -> None:
    """A worker process's start: ignore Ctrl-C (the parent stops the workers) and use one
    thread in torch, in every BLAS / OpenMP pool and in numba (:func:`limit_threads`, the sweep
    workers' rule; numba's setting is read when numba is first imported, after this: the fused
    Jacobian writer's parallel kernels otherwise start a thread per core in every worker, which
    spin against the other workers), so ``jobs`` workers use ``jobs`` cores; freed memory is kept
    for reuse (:func:`_keep_freed_memory`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch  # noqa: F401  (loaded first, so that limit_threads limits its pools too)

    limit_threads(1)
    _keep_freed_memory()


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)


def _keep_freed_memory() -> bool:
    """In a worker, have glibc's malloc keep the memory a computation frees for the next one:
    no block of its own mapping (``M_MMAP_MAX`` 0) and no heap trimmed below 1 GiB of free top
    (``M_TRIM_THRESHOLD``).  By default every array over the mmap threshold (a stack of step
    Jacobians, a chunk of per-example gradients) is mapped afresh and unmapped when freed, so the
    kernel zero-fills its pages again at every checkpoint: an S2 anisotropy unit spent 2–6 s of its
    ≈ 40 s CPU in such page faults, 0.7 s with this (the peak memory is unchanged, ≈ 1.5 GB).
    The numbers do not change (only where the arrays live).  False where there is no glibc."""
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 ** 30))


# ---------------------------------------------------------------------- statistics over seeds
def statistics_by_part(results: Mapping[str, Sequence[Mapping]], parts: Sequence[str],
                       summarise: Callable) -> tuple[dict, dict]:
    """``(per_seed, statistics)`` from :func:`run_seeds` results with ``parts``:
    ``per_seed[case][part]`` is the list over seeds of that part's results and
    ``statistics[case][part]`` is ``summarise`` of that list."""
    per_seed = {case: {part: [stored[part] for stored in seeds] for part in parts} for case, seeds in results.items()}
    statistics = {case: {part: summarise(values) for part, values in by_part.items()}
                  for case, by_part in per_seed.items()}
    return per_seed, statistics


def quartiles(values) -> dict:
    """``{"median", "q25", "q75", "iqr"}`` of the finite ``values`` (NaN when there is none)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return {"median": math.nan, "q25": math.nan, "q75": math.nan, "iqr": math.nan}
    q25, median, q75 = np.percentile(finite, [25, 50, 75])
    return {"median": float(median), "q25": float(q25), "q75": float(q75), "iqr": float(q75 - q25)}


def iqr_outliers(values) -> np.ndarray:
    """A boolean mask: True where a value lies outside [Q₁ − 1.5·IQR, Q₃ + 1.5·IQR] of the
    finite values, or is not finite (Tukey's rule)."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if not finite.any():
        return ~finite
    q25, q75 = np.percentile(values[finite], [25, 75])
    spread = 1.5 * (q75 - q25)
    with np.errstate(invalid="ignore"):
        return ~finite | (values < q25 - spread) | (values > q75 + spread)


# ---------------------------------------------------------------------- files and text
def summary_header(name: str, paper: str) -> dict:
    """The first entries of every ``summary.json``: the command (``gatejac reproduce NAME``),
    the gatejac version and the ``paper`` reproduced."""
    return {"tool": f"gatejac reproduce {name}", "gatejac": gatejac.__version__, "paper": paper}


def write_summary(directory: Path, summary: Mapping) -> Path:
    """Write ``summary`` to ``directory/summary.json`` atomically (non-finite numbers as
    ``null``: strict JSON); raise :class:`ReproduceError` if it cannot be written."""
    text = json.dumps(_strict(summary), indent=2, ensure_ascii=False, allow_nan=False)
    return write_file(Path(directory) / SUMMARY_FILE, text + "\n", "the summary", "settings and statistics over seeds")


def write_file(path: Path, content: str | bytes, what: str, note: str = "", *, quiet: bool = False) -> Path:
    """Write ``content`` to ``path`` atomically (:func:`verify._cli_output.write`, which prints
    ``wrote PATH (note)`` unless ``quiet``); raise :class:`ReproduceError` naming ``what`` if
    it cannot be written."""
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        written = output.write(path, content, what, note)
    if not written:
        raise ReproduceError(f"cannot write {what} to {str(path)!r} (see the error above)")
    return path


def _strict(value):
    """``value`` with every NaN or infinity replaced by None (JSON has no such numbers)."""
    if isinstance(value, Mapping):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def aligned_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned, a rule
    under the header."""
    widths = [max(len(str(row[k])) for row in [header, *rows]) for k in range(len(header))]
    lines = ["  ".join(str(text).ljust(w) if k == 0 else str(text).rjust(w)
                       for k, (text, w) in enumerate(zip(row, widths))) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
