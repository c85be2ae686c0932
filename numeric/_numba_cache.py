"""Where the numba-compiled writer of ``_fused`` keeps its machine code between processes.

numba compiles the fused writer on its first call in a process (for each dtype); with
``cache=True`` it stores the machine code on disk, and a later process whose cache is warm
loads it instead (``benchmarks/cold_start.py`` measures both).  A process's first fused-size
block row does not wait for either: numba starts on a background thread meanwhile
(``_fused_loading``).  numba's own default is the
``__pycache__`` beside the source file, which a system-wide or read-only installation cannot
write.  So gatejac names a per-user directory, chosen in this order:

1. ``NUMBA_CACHE_DIR``, when set: numba's own setting, left as the user made it (it then holds
   every numba cache of the process);
2. ``$GATEJAC_CACHE_DIR/numba``;
3. ``$XDG_CACHE_HOME/gatejac/numba``, or ``~/.cache/gatejac/numba`` without ``XDG_CACHE_HOME``.

The kernels are cached in a subdirectory of that one named by :func:`source_key`, a hash of
the modules numba compiles code from, listed in :data:`NUMBA_SOURCES`.  numba keys the stored
code by the source file of the function it compiled (its time stamp and size), the signature and
the CPU, but not by the files of the functions it inlined from other modules: after a change to
``_streaming.py`` alone, the cached ``_fused`` writer that inlines its streaming store would be
loaded unchanged, stale, and so would the ``jit=True`` kernels after a change to ``_jit_math.py``.
Keyed by all of them, a changed module (a new gatejac, an edit) compiles afresh in a new
subdirectory; an edit of any other module (the code generators included: a changed generated
source is a new file, which numba compiles afresh anyway) keeps the cache.  The directory applies
to gatejac's kernels only (numba's setting is changed just while a kernel is declared, see
:func:`cached_njit`), and is created on first use.  When it cannot be created or written, numba
falls back to its own locations (``__pycache__``, then its user-wide cache).

Old keys are pruned: each process marks the key directory it uses (the time stamp of its file
``last-used``), and when a process creates a new key directory it removes the sibling key
directories (named by 16 hex digits, never another name) not used for :data:`PRUNE_DAYS` days.
A directory another process is using was marked when that process began using it, so it is
kept unless that process has run for :data:`PRUNE_DAYS` days; a removal is first a rename to a
name no process looks for, then a deletion that ignores errors (one left unfinished is finished
by the next pruning), so it never fails a process nor leaves a half-deleted key in use; a
directory marked while it was being renamed away is renamed back.  Nothing else in the root is
touched (symbolic links neither), and nothing at all under ``NUMBA_CACHE_DIR``, which is the
user's and other programs' too.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import time
from pathlib import Path

import numba

NUMBA_SOURCES = ("_fused", "_jit_math", "_streaming", "_tangent_tiles")
"""The modules of this package numba compiles code from: they declare kernels (``cached_njit``)
or the functions and intrinsics the kernels inline (``numba.njit``, ``numba.extending``);
tests/test_numba_cache.py fails when a module that does is missing (or one that does not is
listed)."""

PRUNE_DAYS = 30
"""Sibling key directories not used for this many days are removed when a new one is created."""

_KEY_NAME = re.compile(r"[0-9a-f]{16}")
_LEFT_OVER = re.compile(r"[0-9a-f]{16}\.pruned-[0-9]+")
_USED = "last-used"


def cache_directory() -> Path:
    """The directory gatejac's numba kernels are cached in: ``<root>/<key>``, the root chosen by
    the rule of the module docstring, the key :func:`source_key` of this package; marked as used
    (and, when new, created and its old siblings pruned) once per process."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        root = Path(os.environ["NUMBA_CACHE_DIR"])
    elif os.environ.get("GATEJAC_CACHE_DIR"):
        root = Path(os.environ["GATEJAC_CACHE_DIR"]) / "numba"
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gatejac" / "numba"
    directory = root / _own_key()
    _claim(directory, prunes=not os.environ.get("NUMBA_CACHE_DIR"))  # numba's own directory is the user's
    return directory


@functools.cache
def _own_key() -> str:
    """:func:`source_key` of this package, read once per process."""
    return source_key(Path(__file__).parent)


def source_key(package: Path) -> str:
    """16 hex digits of the SHA-256 of the names and bytes of the modules :data:`NUMBA_SOURCES`
    of ``package``, in that order."""
    digest = hashlib.sha256()
    for name in NUMBA_SOURCES:
        digest.update(name.encode() + b"\0" + (package / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def _claim(directory: Path, prunes: bool) -> None:
    """Mark ``directory`` used; when it is new, create it and (``prunes``: the root is gatejac's
    own, not ``NUMBA_CACHE_DIR``, where other programs keep their caches) prune its old siblings
    (module docstring).  An unwritable location is left to numba's fallback."""
    try:
        new = not directory.is_dir()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _USED).touch()
        if new and prunes:
            prune(directory.parent, keep=directory.name)
    except OSError:
        pass


def prune(root: Path, keep: str, days: float = PRUNE_DAYS) -> list[str]:
    """Remove the key directories of ``root`` other than ``keep`` whose last use (the time stamp
    of their ``last-used`` file, or of the directory where it has none) is ``days`` or more old;
    the names removed."""
    removed, limit = [], time.time() - days * 86400
    for entry in root.iterdir():
        if _LEFT_OVER.fullmatch(entry.name):  # a removal another process did not finish
            shutil.rmtree(entry, ignore_errors=True)
        if entry.name == keep or not _KEY_NAME.fullmatch(entry.name) or entry.is_symlink():
            continue
        try:
            if _last_use(entry) > limit:
                continue
            doomed = entry.with_name(f"{entry.name}.pruned-{os.getpid()}")
            entry.rename(doomed)  # from here on no process finds it under its key
            if _last_use(doomed) > limit:  # a process claimed it meanwhile: give it back
                doomed.rename(entry)
                continue
        except OSError:
            continue
        shutil.rmtree(doomed, ignore_errors=True)
        removed.append(entry.name)
    return removed


def _last_use(directory: Path) -> float:
    """The time stamp of ``directory``'s ``last-used`` file, or of the directory where it has none."""
    marker = directory / _USED
    return (marker if marker.exists() else directory).stat().st_mtime


@contextlib.contextmanager
def _cache_dir_set(directory: Path):
    """numba's cache directory setting at ``directory`` for the block; restored on leaving."""
    before = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = str(directory)
    try:
        yield
    finally:
        numba.config.CACHE_DIR = before


def cached_njit(**options):
    """``numba.njit(cache=True, **options)`` with the cache in :func:`cache_directory`: numba
    picks a function's cache location when the function is declared, so the setting is made
    for the declaration only."""
    def decorate(function):
        with _cache_dir_set(cache_directory()):
            return numba.njit(cache=True, **options)(function)

    return decorate
