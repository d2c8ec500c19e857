from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.conftest import Clients


def test_create_get_list_delete(clients: Clients) -> None:
    name = f"RG-{uuid.uuid4().hex[:6]}"
    made = clients.resource.resource_groups.create_or_update(name, {"location": "West Europe", "tags": {"k": "v"}})
    assert made.location == "westeurope"
    assert made.tags == {"k": "v"}
    # ARM names are case-insensitive
    got = clients.resource.resource_groups.get(name.lower())
    assert got.id == made.id
    assert name in [g.name for g in clients.resource.resource_groups.list()]
    clients.resource.resource_groups.begin_delete(name).result()
    with pytest.raises(ResourceNotFoundError) as err:
        clients.resource.resource_groups.get(name)
    assert err.value.error is not None and err.value.error.code == "ResourceGroupNotFound"


def test_location_cannot_change(clients: Clients, rg: str) -> None:
    with pytest.raises(HttpResponseError) as err:
        clients.resource.resource_groups.create_or_update(rg, {"location": "brazilsouth"})
    assert err.value.status_code == 409
