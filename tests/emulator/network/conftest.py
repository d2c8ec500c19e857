from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Clients


@pytest.fixture
def rg(rg: str, clients: Clients) -> Iterator[str]:
    """The test's resource group, deleted afterwards with all it holds (the emulator is shared)."""
    yield rg
    clients.resource.resource_groups.begin_delete(rg).result()
