"""Hypothesis profiles of the fuzz tests: reproducible (derandomized, no example database), no deadline.

``lslacq-fuzz-fast`` runs in the fast suite (300 examples per parser),
``lslacq-fuzz-slow`` in the slow-marked variants (2000; ``LSLACQ_FUZZ_EXAMPLES=N``
sets it for a deeper run, e.g. 20000 before a release). Each test
picks one through :data:`fuzz_profiles.PROFILES` and may scale the example
count down for its cost per example (a round trip through a real socket).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "derandomize": True,  # the same examples on every run and on CI
    "database": None,  # no .hypothesis directory, nothing carried between runs
    "print_blob": False,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
}
settings.register_profile("lslacq-fuzz-fast", max_examples=300, **_COMMON)
# 2000 keeps the slow variants to 3-4 min of CI in all (3000 took 4-7 min)
settings.register_profile("lslacq-fuzz-slow", max_examples=int(os.environ.get("LSLACQ_FUZZ_EXAMPLES", 2000)), **_COMMON)
