"""Copy Blob: within an account, across accounts with a source SAS, bad sources, Abort Copy.

Azurite finishes every copy at once and the emulator reports ``pending`` first: copies are
polled until no longer pending before anything is compared.
"""

from __future__ import annotations

from tests.conformance import scenarios
from tests.conformance.test_containers import Conform


def test_copy_within_account(conform: Conform) -> None:
    conform(scenarios.copy_within_account)


def test_copy_across_accounts(conform: Conform) -> None:
    conform(scenarios.copy_across_accounts)


def test_copy_bad_source(conform: Conform) -> None:
    conform(scenarios.copy_bad_source)
