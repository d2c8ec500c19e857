"""Containers: create, exists, properties, list, delete and their error codes."""

from __future__ import annotations

from collections.abc import Callable

from tests.conformance import scenarios
from tests.conformance.probe import Probe, Scenario

Conform = Callable[[Scenario], Probe]


def test_containers(conform: Conform) -> None:
    conform(scenarios.containers)
