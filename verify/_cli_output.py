"""The files the command line writes: checked before any work, written atomically.

A report that takes minutes to compute must not be lost to a typo in its path, and an
interrupted or failed write must not leave half a report behind.  So

* :func:`claim` is called for every output path *before* any check runs: it creates (and
  removes) a temporary file in the path's directory, exactly what :func:`write` will do, and
  raises :class:`OutputError` (a :class:`~symbolic.GatejacError`, exit code 2) naming the
  path and the reason if it cannot;
* :func:`write` writes the whole text (or bytes) to a temporary file in the same directory
  and renames it over the path (``os.replace``, atomic on POSIX): a reader sees the old file
  or the new one, never a part.  The file gets the permissions a plain ``open`` would give.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from gatejac.symbolic import GatejacError


class OutputError(GatejacError):
    """An output path of the command line that cannot be written."""


def claim(path: Path, what: str) -> None:
    """Raise :class:`OutputError` unless a file can be written at ``path`` (see the module doc)."""
    if path.is_dir():
        raise OutputError(f"cannot write {what} to {str(path)!r}: it is a directory; give a file name")
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise OutputError(f"cannot write {what} to {str(path)!r}: {exc.strerror}; "
                          "give a path in an existing, writable directory (nothing was run)") from None


def write(path: Path, content: str | bytes, what: str, note: str) -> bool:
    """Write ``content`` to ``path`` atomically and print ``wrote PATH (note)``; on failure
    print an error naming ``what`` and return False."""
    temporary = None
    try:
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                         delete=False) as handle:
            temporary = Path(handle.name)
            handle.write(content.encode() if isinstance(content, str) else content)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        print(f"gatejac: error: cannot write {what} {str(path)!r}: {exc.strerror or exc}", file=sys.stderr)
        return False
    print(f"wrote {path} ({note})")
    return True


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
