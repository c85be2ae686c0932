"""Shared test configuration: the Hypothesis profile of the run, from ``verify.strategies``
(``HYPOTHESIS_PROFILE`` if set, ``ci`` when CI=true, else ``dev``)."""

from gatejac.verify.strategies import load_profile

load_profile()
