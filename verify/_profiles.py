"""gatejac's Hypothesis settings profiles, registered when :mod:`gatejac.verify.strategies` is imported.

====================  ==========================================================================
profile               settings
====================  ==========================================================================
``gatejac-dev``       50 examples, random seed, example database on: quick local runs that explore
``gatejac-ci``        100 examples, ``derandomize=True`` (the same examples on every run, so CI is
                      reproducible but does not explore), ``print_blob=True``
``gatejac-thorough``  10 000 examples, random seed, ``print_blob=True``: exploration (see
                      ``benchmarks/thorough.py``)
====================  ==========================================================================

The names are gatejac's own: Hypothesis itself registers ``default`` and ``ci`` (the latter
loaded by Hypothesis under ``CI=true``), and a user's ``ci`` profile must not be replaced by
gatejac's.  All three have ``deadline=None`` (the first example of a cell compiles its
kernels) and do not fail the ``too_slow`` health check (drawing a random cell derives and
compiles it); their parent is Hypothesis's ``default`` profile, not whatever was loaded when
they were registered.  :func:`load_profile` loads ``HYPOTHESIS_PROFILE`` if it is set, else
``gatejac-ci`` when ``CI=true``, else ``gatejac-dev``; gatejac's ``tests/conftest.py`` calls it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from hypothesis import HealthCheck, settings

from gatejac.symbolic import unknown_name

PROFILES = ("gatejac-dev", "gatejac-ci", "gatejac-thorough")
"""gatejac's Hypothesis settings profiles (the table of the module docstring)."""

_COMMON = {"parent": settings.get_profile("default"), "deadline": None,
           "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("gatejac-dev", max_examples=50, **_COMMON)
settings.register_profile("gatejac-ci", max_examples=100, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("gatejac-thorough", max_examples=10_000, print_blob=True, **_COMMON)


def load_profile(environ: Mapping[str, str] | None = None) -> str:
    """Load and return the Hypothesis profile for this run: ``HYPOTHESIS_PROFILE`` if set
    (one of :data:`PROFILES`), else ``"gatejac-ci"`` when ``CI=true``, else ``"gatejac-dev"``
    (``environ`` defaults to ``os.environ``)."""
    environ = os.environ if environ is None else environ
    on_ci = environ.get("CI", "").lower() == "true"
    name = environ.get("HYPOTHESIS_PROFILE") or ("gatejac-ci" if on_ci else "gatejac-dev")
    if name not in PROFILES:
        renamed = f"gatejac-{name}"
        hint = f"gatejac's profiles are named gatejac-…: did you mean {renamed!r}? " if renamed in PROFILES else ""
        raise unknown_name("Hypothesis profile", name, list(PROFILES),
                           f"({hint}set by the environment variable HYPOTHESIS_PROFILE; see gatejac.verify.strategies)")
    settings.load_profile(name)
    return name
