"""Hypothesis settings of the property tests (applied per test, so no other test's settings change):
modest example counts, no deadline (moto's timing follows the machine's load). Set
HYPOTHESIS_PROFILE=thorough for a ten times longer search."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SCALE = 10 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else 1


def budget(examples: int) -> settings:
    return settings(
        max_examples=examples * _SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
