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

The directory applies to gatejac's kernel only (numba's setting is changed just while the kernel
is declared, see :func:`cached_njit`), and is created on first use.  When it cannot be created or
written, numba falls back to its own locations (``__pycache__``, then its user-wide cache).
numba keys the stored code by a hash of the source file, the signature and the CPU, so a changed
``_fused.py`` or another machine compiles afresh.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numba


def cache_directory() -> Path:
    """The directory gatejac's numba kernel is cached in (see the module docstring)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    if os.environ.get("GATEJAC_CACHE_DIR"):
        return Path(os.environ["GATEJAC_CACHE_DIR"]) / "numba"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gatejac" / "numba"


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
