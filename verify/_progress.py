"""A progress bar on stderr for commands that run for seconds to minutes.

On a terminal it redraws one line in place (``\\r``)::

    expansion [########------------]  16/40  scalar_gate seed 7  0:12 elapsed, ~0:18 left

When stderr is not a terminal (a pipe, a CI log, a file) redrawing would leave control
characters in the log, so every update is its own line instead, without the bar::

    expansion  16/40  scalar_gate seed 7  (0:12 elapsed)

Work done before the run (e.g. results reused from an earlier, interrupted run) is counted
with :meth:`Progress.skip`: it advances the count without pretending to have taken time, so
the estimate of what is left uses only the work actually timed.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 20


def _clock(seconds: float) -> str:
    """``75.3`` → ``1:15``."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}:{seconds:02d}"


class Progress:
    """Count ``total`` units of work under ``label``; :meth:`advance` after each unit,
    :meth:`close` at the end (also as a context manager).  ``stream`` defaults to stderr;
    ``enabled=False`` prints nothing."""

    def __init__(self, total: int, label: str, *, stream: TextIO | None = None, enabled: bool = True):
        self.total = max(int(total), 0)
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.done = 0
        self._timed = 0
        self._start = time.perf_counter()
        self._drawn = False
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def skip(self, count: int, note: str = "") -> None:
        """Count ``count`` units that needed no work (reused results)."""
        self.done += count
        self._show(note)

    def advance(self, note: str = "") -> None:
        """One unit of work finished; ``note`` says which."""
        self.done += 1
        self._timed += 1
        self._show(note)

    def close(self) -> None:
        """End the bar's line (on a terminal)."""
        if self.enabled and self.terminal and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False

    def line(self, note: str = "") -> str:
        """The text of the current state (see the module docstring for both forms)."""
        elapsed = time.perf_counter() - self._start
        width = len(str(self.total))
        count = f"{self.done:>{width}}/{self.total}"
        note = f"  {note}" if note else ""
        if not self.terminal:
            return f"{self.label}  {count}{note}  ({_clock(elapsed)} elapsed)"
        filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
        left = ""
        remaining = self.total - self.done
        if self._timed and remaining:
            left = f", ~{_clock(elapsed / self._timed * remaining)} left"
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        return f"{self.label} [{bar}] {count}{note}  {_clock(elapsed)} elapsed{left}"

    def _show(self, note: str) -> None:
        if not self.enabled:
            return
        if self.terminal:
            self.stream.write("\r\033[K" + self.line(note))
            self._drawn = True
        else:
            self.stream.write(self.line(note) + "\n")
        self.stream.flush()
