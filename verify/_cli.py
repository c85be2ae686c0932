"""The ``gatejac`` command line (console script ``gatejac``, and ``python -m gatejac``):
the process around the subcommands of :mod:`verify._cli_commands`.

Exit codes: 0 success; 1 the work failed (a check, a claim or a mutation was not caught, a
file could not be written); 2 a usage error — argparse's own, or any
:class:`~symbolic.GatejacError` (an unknown cell, a bad option, a file that cannot be
loaded, an output path that cannot be written: checked before any work), printed as
``gatejac: error: …`` without a traceback; 130 interrupted (Ctrl-C: one line, no
traceback, at any moment — the subcommands, and SymPy, NumPy and torch with them, are
imported inside the handler); 141 the reader of the output went away (``gatejac list |
head -1``: silent, as a tool killed by SIGPIPE).
"""

from __future__ import annotations

import os
import sys

_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C
_BROKEN_PIPE = 141  # 128 + SIGPIPE


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    try:
        from ._cli_commands import run

        code = run(argv)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return code
    except KeyboardInterrupt:
        print("gatejac: interrupted", file=sys.stderr)
        return _INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # drop what is still buffered
        return _BROKEN_PIPE
