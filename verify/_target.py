"""Load a user's cell (and claims) from ``path/to/file.py:NAME``, as ``gatejac check`` does.

The file is imported with its directory on ``sys.path`` while it loads (as Python does for
a script); ``NAME`` is a function (called with no arguments) or an object, giving a
:class:`symbolic.Cell` or a ``(cell, claims)`` pair.  Errors in the user's file are reported
as :class:`~verify.ClaimsError` naming the file and what it raised, never as a traceback.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

from gatejac.symbolic import Cell, GatejacError, unknown_name

from ._claims import Claims
from ._compare_call import call
from ._errors import ClaimsError


def load_target(target: str) -> tuple[Cell, Claims, str]:
    """Load ``path/to/file.py:NAME``: import the file (its directory on ``sys.path`` while
    it loads, as Python does for a script), take ``NAME``, call it if it is a function, and
    return ``(cell, claims, description)``."""
    path_text, sep, name = target.rpartition(":")
    if not sep or not path_text or not name.isidentifier():
        raise ClaimsError(f"{target!r}: give path/to/file.py:NAME, NAME a function or object of that file "
                          "(e.g. examples/multigate_claims.py:cell)")
    path = Path(path_text)
    if not path.is_file():
        raise ClaimsError(f"{target!r}: there is no file {str(path)!r}")
    module = import_file(path)
    public = [n for n, v in vars(module).items() if not n.startswith("_") and not inspect.ismodule(v)]
    if name not in vars(module):
        raise unknown_name("name", name, public, f"(in {path})")
    value = getattr(module, name)
    if callable(value) and not isinstance(value, Cell):
        value, error = call(value, f"{name}()")
        if error is not None:
            raise ClaimsError(f"{target}: {error}")
    cell, claims = value if isinstance(value, tuple) and len(value) == 2 else (value, None)
    if not isinstance(cell, Cell):
        raise ClaimsError(f"{target}: {name} gave {type(value).__name__}; it must give a symbolic.Cell or a "
                          "(cell, claims) pair")
    return cell.validate(), Claims.coerce(claims), f"{path}:{name}"


def import_file(path: Path):
    module_name = f"gatejac_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ClaimsError(f"cannot import {str(path)!r}: it is not a Python file")
    module = importlib.util.module_from_spec(spec)
    directory = str(path.resolve().parent)
    sys.path.insert(0, directory)
    try:
        spec.loader.exec_module(module)
    except GatejacError:
        raise
    except Exception as exc:  # the user's file: report, never a traceback
        raise ClaimsError(f"cannot import {str(path)!r}: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(directory)
    return module
