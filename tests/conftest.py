"""Shared test configuration: the Hypothesis profile of the run, from ``gatejac.verify.strategies``
(``HYPOTHESIS_PROFILE`` if set, ``gatejac-ci`` when CI=true, else ``gatejac-dev``)."""

from gatejac.verify.strategies import load_profile

load_profile()
