from __future__ import annotations

import pytest
from azure.identity import ClientSecretCredential

from tests.emulator.compute.helpers import RawArm


@pytest.fixture(scope="session")
def raw(credential: ClientSecretCredential, azure_env: dict[str, str]) -> RawArm:
    """Plain HTTPS calls to ARM (to check headers and bodies the SDK does not show)."""
    return RawArm(credential, azure_env)
