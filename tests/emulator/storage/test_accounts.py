"""Storage accounts through azure-mgmt-storage: create (LRO), get, list, keys, delete."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient

from tests.conftest import Clients


def _name() -> str:
    return f"st{uuid.uuid4().hex[:12]}"


def _check(name: str) -> dict[str, str]:
    return {"name": name, "type": "Microsoft.Storage/storageAccounts"}


def _params(location: str = "brazilsouth", **extra: object) -> dict[str, object]:
    return {"location": location, "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", **extra}


def test_lifecycle(clients: Clients, rg: str, azure_env: dict[str, str]) -> None:
    name = _name()
    tags = {"diskferry-job": "j1"}
    made = clients.storage.storage_accounts.begin_create(rg, name, _params("Brazil South", tags=tags)).result()
    assert made.name == name
    assert made.location == "brazilsouth"
    assert made.sku.name == "Standard_LRS" and made.kind == "StorageV2"
    assert made.tags == {"diskferry-job": "j1"}
    assert made.provisioning_state == "Succeeded"
    assert made.primary_endpoints.blob == f"{azure_env['DISKFERRY_BLOB_ENDPOINT']}/{name}/"
    rg_id = f"/subscriptions/{clients.subscription_id}/resourceGroups/{rg}"
    assert made.id == f"{rg_id}/providers/Microsoft.Storage/storageAccounts/{name}"

    got = clients.storage.storage_accounts.get_properties(rg, name)
    assert got.id == made.id and got.tags == made.tags
    assert name in [a.name for a in clients.storage.storage_accounts.list_by_resource_group(rg)]
    assert name in [a.name for a in clients.storage.storage_accounts.list()]

    keys = clients.storage.storage_accounts.list_keys(rg, name).keys_property
    assert [k.key_name for k in keys] == ["key1", "key2"]
    assert keys[0].value != keys[1].value and all(len(k.value) > 40 for k in keys)
    assert keys[0].permissions == "FULL"

    blob_service = BlobServiceClient(made.primary_endpoints.blob.rstrip("/"), credential=keys[0].value)
    blob_service.create_container("vhds").get_blob_client("a.vhd").create_page_blob(512)
    clients.storage.storage_accounts.delete(rg, name)
    with pytest.raises(ResourceNotFoundError):
        clients.storage.storage_accounts.get_properties(rg, name)
    # its blob endpoint is gone too: in Azure its host name stops resolving, so a call meets a
    # connection error, never an answer (see emulator/storage/service.py)
    gone = BlobServiceClient(made.primary_endpoints.blob.rstrip("/"), credential=keys[0].value, retry_total=0)
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        gone.get_container_client("vhds").get_container_properties()
    # deleting again is a no-op, as in Azure (204)
    clients.storage.storage_accounts.delete(rg, name)
    # the name is free again, and a new account of that name starts empty
    assert clients.storage.storage_accounts.check_name_availability(_check(name)).name_available
    clients.storage.storage_accounts.begin_create(rg, name, _params()).result()
    fresh_key = clients.storage.storage_accounts.list_keys(rg, name).keys_property[0].value
    fresh = BlobServiceClient(made.primary_endpoints.blob.rstrip("/"), credential=fresh_key)
    assert list(fresh.list_containers()) == []


def test_names_are_global_and_validated(clients: Clients, rg: str) -> None:
    name = _name()
    clients.storage.storage_accounts.begin_create(rg, name, _params()).result()
    other_rg = f"rg-{uuid.uuid4().hex[:8]}"
    clients.resource.resource_groups.create_or_update(other_rg, {"location": "westeurope"})
    with pytest.raises(ResourceExistsError) as err:
        clients.storage.storage_accounts.begin_create(other_rg, name, _params()).result()
    assert err.value.error is not None and err.value.error.code == "StorageAccountAlreadyTaken"
    taken = clients.storage.storage_accounts.check_name_availability(_check(name))
    assert (taken.name_available, taken.reason) == (False, "AlreadyExists")

    for bad in ("Upper123", "ab", "x" * 25, "has-dash"):
        with pytest.raises(HttpResponseError) as err2:
            clients.storage.storage_accounts.begin_create(rg, bad, _params()).result()
        assert err2.value.status_code == 400
        assert err2.value.error is not None and err2.value.error.code == "AccountNameInvalid"


def test_missing_resource_group(clients: Clients) -> None:
    with pytest.raises(ResourceNotFoundError) as err:
        clients.storage.storage_accounts.begin_create(f"rg-{uuid.uuid4().hex[:8]}", _name(), _params()).result()
    assert err.value.error is not None and err.value.error.code == "ResourceGroupNotFound"


def test_regenerate_key(clients: Clients, rg: str) -> None:
    name = _name()
    clients.storage.storage_accounts.begin_create(rg, name, _params()).result()
    before = clients.storage.storage_accounts.list_keys(rg, name).keys_property
    after = clients.storage.storage_accounts.regenerate_key(rg, name, {"keyName": "key2"}).keys_property
    assert after[0].value == before[0].value and after[1].value != before[1].value


def test_resource_group_delete_frees_accounts(clients: Clients) -> None:
    group = f"rg-{uuid.uuid4().hex[:8]}"
    clients.resource.resource_groups.create_or_update(group, {"location": "francecentral"})
    name = _name()
    clients.storage.storage_accounts.begin_create(group, name, _params("francecentral")).result()
    clients.resource.resource_groups.begin_delete(group).result()
    free = clients.storage.storage_accounts.check_name_availability(_check(name))
    assert free.name_available


def test_update_turns_shared_key_access_off_and_on(clients: Clients, rg: str) -> None:
    """What Azure Policy's "modify" effect does to accounts in locked-down subscriptions."""
    name = _name()
    clients.storage.storage_accounts.begin_create(rg, name, _params()).result()
    key = clients.storage.storage_accounts.list_keys(rg, name).keys_property[0].value
    blobs = BlobServiceClient(clients.storage.storage_accounts.get_properties(rg, name).primary_endpoints.blob,
                              credential=key)
    blobs.create_container("vhds")
    off = clients.storage.storage_accounts.update(rg, name, {"properties": {"allowSharedKeyAccess": False}})
    assert off.allow_shared_key_access is False
    assert clients.storage.storage_accounts.get_properties(rg, name).allow_shared_key_access is False
    with pytest.raises(HttpResponseError) as err:
        blobs.get_container_client("vhds").get_container_properties()
    assert err.value.status_code == 403 and err.value.error_code == "KeyBasedAuthenticationNotPermitted"
    clients.storage.storage_accounts.update(rg, name, {"properties": {"allowSharedKeyAccess": True}})
    assert blobs.get_container_client("vhds").get_container_properties().name == "vhds"
