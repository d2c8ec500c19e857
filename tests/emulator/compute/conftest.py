from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.identity import ClientSecretCredential

from tests.conftest import Clients
from tests.emulator.compute.helpers import RawArm


@pytest.fixture(scope="session")
def raw(credential: ClientSecretCredential, azure_env: dict[str, str]) -> RawArm:
    """Plain HTTPS calls to ARM (to check headers and bodies the SDK does not show)."""
    return RawArm(credential, azure_env)


@pytest.fixture
def rg(rg: str, clients: Clients) -> Iterator[str]:
    """The test's resource group, deleted afterwards with all it holds.

    The emulator is shared by the whole session: grants, VMs and content a test leaves
    would show in later tests' audits (a finished job must leave no grant at all).
    """
    yield rg
    clients.resource.resource_groups.begin_delete(rg).result()
