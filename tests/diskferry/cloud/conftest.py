from __future__ import annotations

from collections.abc import Iterator

import pytest

from diskferry.cloud import Cloud
from diskferry.config.settings import Settings
from diskferry.emulator.testing import EmulatorProcess
from tests.conftest import Clients


@pytest.fixture(scope="session")
def cloud(emulator: EmulatorProcess) -> Cloud:
    """diskferry's facade on the session's local Azure, configured as a worker is (from the env)."""
    return Cloud(Settings.from_env(emulator.env).azure)


@pytest.fixture
def rg(rg: str, clients: Clients) -> Iterator[str]:
    """The test's resource group, deleted afterwards with all it holds (the emulator is shared)."""
    yield rg
    clients.resource.resource_groups.begin_delete(rg).result()
