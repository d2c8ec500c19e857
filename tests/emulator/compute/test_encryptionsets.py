"""Disk encryption sets: regional, named by the disks, snapshots and images under a
customer-managed key; kept by copies, not by imports; not deleted while used."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.conftest import Clients
from tests.emulator.compute.helpers import LOCATION, code_of, copy_of, empty_disk, name

CUSTOMER = "EncryptionAtRestWithCustomerKey"
DOUBLE = "EncryptionAtRestWithPlatformAndCustomerKeys"
PLATFORM = "EncryptionAtRestWithPlatformKey"


def make_set(clients: Clients, rg: str, location: str = LOCATION, kind: str = CUSTOMER, **extra: Any) -> Any:
    body = {
        "location": location,
        "identity": {"type": "SystemAssigned"},
        "properties": {"encryptionType": kind,
                       "activeKey": {"keyUrl": "https://vault.example/keys/disks/0123456789abcdef"}},
        **extra,
    }
    return clients.compute.disk_encryption_sets.begin_create_or_update(rg, name("des"), body).result()


def test_a_disk_under_a_customer_key_names_its_set_and_copies_keep_it(clients: Clients, rg: str) -> None:
    des = make_set(clients, rg)
    assert (des.encryption_type, des.provisioning_state, des.identity.type) == (CUSTOMER, "Succeeded", "SystemAssigned")
    assert des.identity.principal_id

    disk = empty_disk(clients, rg, encryption={"type": CUSTOMER, "diskEncryptionSetId": des.id})
    assert (disk.encryption.type, disk.encryption.disk_encryption_set_id) == (CUSTOMER, des.id)
    snap = copy_of(clients, rg, disk.id, kind="snapshot")
    assert (snap.encryption.type, snap.encryption.disk_encryption_set_id) == (CUSTOMER, des.id)
    plain = empty_disk(clients, rg)
    assert plain.encryption.type == PLATFORM and plain.encryption.disk_encryption_set_id is None

    listed = [d.id for d in clients.compute.disk_encryption_sets.list_by_resource_group(rg)]
    assert listed == [des.id]


def test_sets_are_regional_and_must_exist(clients: Clients, rg: str) -> None:
    elsewhere = make_set(clients, rg, location="westeurope")
    with pytest.raises(HttpResponseError) as err:
        empty_disk(clients, rg, encryption={"type": CUSTOMER, "diskEncryptionSetId": elsewhere.id})
    assert (err.value.status_code, code_of(err)) == (400, "BadRequest")
    assert "same location" in str(err.value)

    missing = elsewhere.id.rsplit("/", 1)[0] + "/nosuchset"
    with pytest.raises(HttpResponseError) as err:
        empty_disk(clients, rg, encryption={"type": CUSTOMER, "diskEncryptionSetId": missing})
    assert code_of(err) == "BadRequest" and "was not found" in str(err.value)

    double = make_set(clients, rg, kind=DOUBLE)
    with pytest.raises(HttpResponseError) as err:
        empty_disk(clients, rg, encryption={"type": CUSTOMER, "diskEncryptionSetId": double.id})
    assert code_of(err) == "BadRequest" and "does not match" in str(err.value)
    doubled = empty_disk(clients, rg, encryption={"type": DOUBLE, "diskEncryptionSetId": double.id})
    assert doubled.encryption.type == DOUBLE
    assert not [d for d in clients.compute.disks.list_by_resource_group(rg)
                if d.encryption.type == CUSTOMER]  # the refused creates made nothing


def test_a_set_needs_a_key_and_an_identity(clients: Clients, rg: str) -> None:
    with pytest.raises(HttpResponseError) as err:
        make_set(clients, rg, identity={"type": "None"})
    assert code_of(err) == "BadRequest"
    with pytest.raises(HttpResponseError) as err:
        clients.compute.disk_encryption_sets.begin_create_or_update(rg, name("des"), {
            "location": LOCATION, "identity": {"type": "SystemAssigned"}, "properties": {}}).result()
    assert code_of(err) == "BadRequest"


def test_a_set_in_use_is_not_deleted(clients: Clients, rg: str) -> None:
    des = make_set(clients, rg)
    disk = empty_disk(clients, rg, encryption={"type": CUSTOMER, "diskEncryptionSetId": des.id})
    with pytest.raises(ResourceExistsError) as err:
        clients.compute.disk_encryption_sets.begin_delete(rg, des.name).result()
    assert code_of(err) == "OperationNotAllowed"
    clients.compute.disks.begin_delete(rg, disk.name).result()
    clients.compute.disk_encryption_sets.begin_delete(rg, des.name).result()
    with pytest.raises(ResourceNotFoundError):
        clients.compute.disk_encryption_sets.get(rg, des.name)
