"""The subscription's regions, listed through the unchanged SDK, and resources refused in a
region that does not exist, with Azure's codes."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.subscriptions import SubscriptionClient

from diskferry.emulator.admin_client import AdminClient
from tests.conftest import ARM_SCOPE, Clients
from tests.emulator.compute.helpers import code_of, empty_body
from tests.fleet.checks import delta


def test_list_locations_names_azures_regions(credential: ClientSecretCredential, azure_env: dict[str, str]) -> None:
    client = SubscriptionClient(credential, base_url=azure_env["DISKFERRY_ARM_ENDPOINT"], credential_scopes=[ARM_SCOPE])

    found = {loc.name: loc for loc in client.subscriptions.list_locations(azure_env["AZURE_SUBSCRIPTION_ID"])}

    assert {"westeurope", "francecentral", "brazilsouth", "eastus2"} <= set(found)
    assert found["westeurope"].display_name == "West Europe"
    assert "westeurpoe" not in found and "mars" not in found


def test_a_resource_group_in_an_unknown_region_is_refused(clients: Clients, admin: AdminClient) -> None:
    name = f"mars-{uuid.uuid4().hex[:6]}"
    with pytest.raises(HttpResponseError) as err:
        clients.resource.resource_groups.create_or_update(name, {"location": "mars"})
    assert err.value.status_code == 400
    assert code_of(err) == "LocationNotAvailableForResourceGroup"
    assert "'mars' is not available for resource group" in str(err.value)
    assert not clients.resource.resource_groups.check_existence(name)


@pytest.mark.parametrize("location", ["westeurpoe", "West Eruope"])
def test_a_disk_in_an_unknown_region_is_refused(clients: Clients, rg: str, admin: AdminClient, location: str) -> None:
    before = admin.counters()
    with pytest.raises(HttpResponseError) as err:
        clients.compute.disks.begin_create_or_update(rg, "d1", empty_body(location=location)).result()
    assert err.value.status_code == 400
    assert code_of(err) == "LocationNotAvailableForResourceType"
    assert "resource type 'Microsoft.Compute/disks'" in str(err.value)
    assert [d.name for d in clients.compute.disks.list_by_resource_group(rg)] == []
    assert delta(before, admin.counters()) == {"Microsoft.Compute/disks/write": 1,
                                               "Microsoft.Compute/disks/read": 1}


def test_a_storage_account_in_an_unknown_region_is_refused(clients: Clients, rg: str) -> None:
    body = {"location": "mars", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}
    with pytest.raises(HttpResponseError) as err:
        clients.storage.storage_accounts.begin_create(rg, f"mars{uuid.uuid4().hex[:8]}", body).result()
    assert code_of(err) == "LocationNotAvailableForResourceType"
    assert "'Microsoft.Storage/storageAccounts'" in str(err.value)
