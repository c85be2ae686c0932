"""``assert_jacobians`` and the per-session defaults it shares with the pytest plugin.

The plugin (:mod:`verify._plugin`) opens a :class:`Session` per pytest run with the
defaults of ``--gatejac-backend`` / ``--gatejac-dtype``, sets each test's
``@pytest.mark.gatejac(...)`` options while that test runs, and collects every report for
``--gatejac-report``.  Outside pytest (or with the plugin disabled) there is no session and
:func:`assert_jacobians` uses ``verify.check``'s own defaults.  This module does not
import pytest, so ``import verify`` stays light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a check runs, so that the pytest plugin loads nothing heavy
    from gatejac.symbolic import Cell

    from ._report import Report

_SESSIONS: list[Session] = []
"""Open sessions, innermost last (pytester runs a session inside a test of another)."""


@dataclass
class Session:
    """One pytest run: command-line ``defaults``, the running ``test`` and its marker
    ``overrides``, and every ``(test, report)`` produced through the plugin."""

    defaults: dict
    test: str | None = None
    overrides: dict = field(default_factory=dict)
    reports: list[tuple[str | None, Report]] = field(default_factory=list)

    def options(self) -> dict:
        """``verify.check`` keyword defaults for the running test."""
        return {**self.defaults, **self.overrides}

    def start_test(self, test: str, overrides: dict) -> None:
        self.test, self.overrides = test, dict(overrides)

    def end_test(self) -> None:
        self.test, self.overrides = None, {}


def open_session(session: Session) -> None:
    _SESSIONS.append(session)


def close_session(session: Session) -> None:
    if session in _SESSIONS:
        _SESSIONS.remove(session)


def current_session() -> Session | None:
    return _SESSIONS[-1] if _SESSIONS else None


def check_in_session(cell: Cell | str, **options) -> Report:
    """``verify.check(cell, **options)`` with the running test's defaults filled in; the
    report is recorded for ``--gatejac-report``."""
    from ._check import check

    session = current_session()
    report = check(cell, **{**(session.options() if session else {}), **options})
    if session is not None:
        session.reports.append((session.test, report))
    return report


def assert_jacobians(cell: Cell | str, **options) -> Report:
    """Check every Jacobian of ``cell`` (a Cell or a catalogue name) and return the
    :class:`Report`; raise :class:`~verify._check.VerificationError` — an
    ``AssertionError`` whose message is the report's text — if any check fails.

    ``options`` are those of ``verify.check`` (``backend``, ``dtype``, ``sizes``,
    ``seed``, ``points``, ``oracles``, ``derivation``, ``jacobians``); under pytest, the
    ones not given come from ``@pytest.mark.gatejac(...)`` and ``--gatejac-backend`` /
    ``--gatejac-dtype``.

    Example::

        def test_my_cell():
            verify.assert_jacobians(my_cell(), jacobians=["state", "input"])
    """
    __tracebackhide__ = True  # pytest: show the caller's line, not this helper's
    from ._check import assert_passed

    report = check_in_session(cell, **options)
    assert_passed(report)
    return report
