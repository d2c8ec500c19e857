"""Service SAS: valid reads, expiry, start, tampering, foreign keys, permissions, container SAS."""

from __future__ import annotations

from tests.conformance import scenarios
from tests.conformance.test_containers import Conform


def test_sas(conform: Conform) -> None:
    conform(scenarios.sas)
