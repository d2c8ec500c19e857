"""Storage fixtures: accounts in two regions and blob clients with each kind of credential."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from azure.identity import ClientSecretCredential
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    generate_blob_sas,
    generate_container_sas,
)

from tests.conftest import Clients

MIB = 1024**2


@dataclass
class Account:
    name: str
    key: str
    id: str
    location: str
    #: the account's blob endpoint, path-style: https://127.0.0.1:B/{name}
    url: str

    def service(self, credential: object = None) -> BlobServiceClient:
        """A client with the account key, or ``credential`` (a token credential)."""
        return BlobServiceClient(self.url, credential=credential or self.key)

    def container(self, name: str | None = None) -> ContainerClient:
        """A new container (key-authorized client)."""
        return self.service().create_container(name or f"c{uuid.uuid4().hex[:10]}")

    def blob_sas(self, container: str, blob: str, permission: str = "r", seconds: float = 3600) -> str:
        return generate_blob_sas(
            self.name,
            container,
            blob,
            account_key=self.key,
            permission=BlobSasPermissions.from_string(permission),
            expiry=datetime.now(UTC) + timedelta(seconds=seconds),
        )

    def container_sas(self, container: str, permission: str = "racwdl", seconds: float = 3600) -> str:
        return generate_container_sas(
            self.name,
            container,
            account_key=self.key,
            permission=ContainerSasPermissions.from_string(permission),
            expiry=datetime.now(UTC) + timedelta(seconds=seconds),
        )


@pytest.fixture(scope="module")
def storage_rg(clients: Clients) -> str:
    name = f"rg-st-{uuid.uuid4().hex[:8]}"
    clients.resource.resource_groups.create_or_update(name, {"location": "westeurope"})
    return name


@pytest.fixture(scope="module")
def make_account(clients: Clients, storage_rg: str, azure_env: dict[str, str]) -> Callable[[str], Account]:
    def make(location: str) -> Account:
        name = f"st{uuid.uuid4().hex[:12]}"
        body = {"location": location, "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}
        made = clients.storage.storage_accounts.begin_create(storage_rg, name, body).result()
        key = clients.storage.storage_accounts.list_keys(storage_rg, name).keys_property[0].value
        return Account(name, key, made.id, location, f"{azure_env['DISKFERRY_BLOB_ENDPOINT']}/{name}")

    return make


@pytest.fixture(scope="module")
def account(make_account: Callable[[str], Account]) -> Account:
    """A storage account in westeurope."""
    return make_account("westeurope")


@pytest.fixture(scope="module")
def remote(make_account: Callable[[str], Account]) -> Account:
    """A storage account in brazilsouth (another region)."""
    return make_account("brazilsouth")


@pytest.fixture
def bearer(credential: ClientSecretCredential) -> ClientSecretCredential:
    return credential
