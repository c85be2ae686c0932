"""The errors of the verify layer (subclasses of :class:`symbolic.GatejacError`)."""

from gatejac.symbolic import GatejacError


class CheckError(GatejacError, ValueError):
    """``verify.check`` was called with an invalid option (points, seed, oracles, cell ...)."""


class ClaimsError(GatejacError, ValueError):
    """A claim is malformed: an unknown Jacobian, a term of the wrong shape, a bad label,
    a file or name that cannot be loaded.  The message names the piece and what to do."""


class VerificationError(GatejacError, AssertionError):
    """A check failed; the message is the report's text, and nothing else (pytest prints it
    as the failure, without gatejac's frames)."""


for _error in (CheckError, ClaimsError, VerificationError):
    _error.__module__ = "gatejac.verify"  # the public name in messages and tracebacks
