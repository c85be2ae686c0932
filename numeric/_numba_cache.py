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
every module of this package that numba compiles code from.  numba keys the stored code by the
source file of the function it compiled (its time stamp and size), the signature and the CPU, but
not by the files of the functions it inlined from other modules: after a change to
``_streaming.py`` alone, the cached ``_fused`` writer that inlines its streaming store would be
loaded unchanged, stale, and so would the ``jit=True`` kernels after a change to ``_jit_math.py``.
Keyed by all of them, a changed module (a new gatejac, an edit) compiles afresh in a new
subdirectory.  The directory applies to gatejac's kernels only (numba's setting is changed just
while a kernel is declared, see :func:`cached_njit`), and is created on first use.  When it cannot
be created or written, numba falls back to its own locations (``__pycache__``, then its
user-wide cache).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
from pathlib import Path

import numba

_NUMBA_CODE = re.compile(rb"cached_njit|numba\.njit|numba\.extending")
"""What marks a module numba compiles code from: it declares kernels or intrinsics."""


def cache_directory() -> Path:
    """The directory gatejac's numba kernels are cached in: ``<root>/<key>``, the root chosen by
    the rule of the module docstring, the key :func:`source_key` of this package."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        root = Path(os.environ["NUMBA_CACHE_DIR"])
    elif os.environ.get("GATEJAC_CACHE_DIR"):
        root = Path(os.environ["GATEJAC_CACHE_DIR"]) / "numba"
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gatejac" / "numba"
    return root / _own_key()


@functools.cache
def _own_key() -> str:
    """:func:`source_key` of this package, read once per process."""
    return source_key(Path(__file__).parent)


def source_key(package: Path) -> str:
    """16 hex digits of the SHA-256 of the names and bytes of every module of ``package`` that
    numba compiles code from (:data:`_NUMBA_CODE`), in name order."""
    digest = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        text = path.read_bytes()
        if _NUMBA_CODE.search(text):
            digest.update(path.name.encode() + b"\0" + text)
    return digest.hexdigest()[:16]


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
