"""The error of ``verify.compare``: :class:`CompareError` (a :class:`symbolic.GatejacError`)."""

from gatejac.symbolic import GatejacError


class CompareError(GatejacError, ValueError):
    """``verify.compare`` cannot call the implementation as the spec needs: a call raised or
    returned the wrong thing, or the spec's parameters cannot be mapped onto the module's.
    The message says what gatejac expected (the calling convention, the shapes, the
    candidates of an ambiguous parameter) and how to give it (``mapping=``)."""


CompareError.__module__ = "gatejac.verify"  # the public name in messages and tracebacks
