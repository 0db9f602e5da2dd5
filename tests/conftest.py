"""Settings for the whole suite.

Hypothesis's deadline for one example (200 ms unless a test sets its own) measures the machine,
not the code: on a shared two-core machine running the other test worker's nodes beside it, an
example that takes 20 ms sometimes takes 200 and the test fails for nothing it checks. The
suite's examples run without one; the costs the tests do assert are counted in Python lines
executed (`tests/cost.py`), never timed.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("suite", deadline=None)
settings.load_profile("suite")
