"""The error of the sweep engine (to join ``verify._errors`` when the sweep is exported)."""

from gatejac.symbolic import GatejacError


class SweepError(GatejacError, ValueError):
    """A sweep that cannot run as asked: unknown settings or quantity, a store holding a
    different sweep, a point whose quantity failed.  The message names the piece and what to do."""


SweepError.__module__ = "gatejac.verify"
