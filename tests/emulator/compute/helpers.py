"""Builders shared by the compute tests: disks, VMs and raw ARM calls, all over HTTPS."""

from __future__ import annotations

import os
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import models as m
from azure.storage.blob import BlobClient

from diskferry.emulator.vhd import make_footer
from tests.conftest import ARM_SCOPE, Clients

#: the region of the ``rg`` fixture
LOCATION = "francecentral"
MIB = 1024**2
GIB = 1024**3
FOOTER = 512


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def empty_body(gb: int = 1, location: str = LOCATION) -> dict[str, Any]:
    return {"location": location, "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": gb}}


def grant(
    clients: Clients, rg: str, resource: str, access: str = "Read", seconds: int = 600, kind: str = "disk"
) -> str:
    """The SAS URL of a new grant on a disk (or snapshot)."""
    ops = clients.compute.disks if kind == "disk" else clients.compute.snapshots
    poller = ops.begin_grant_access(rg, resource, {"access": access, "durationInSeconds": seconds})
    return str(poller.result().access_sas)


def empty_disk(
    clients: Clients, rg: str, disk: str | None = None, gb: int = 1, location: str = LOCATION, **props: Any
) -> m.Disk:
    body = {"location": location, "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": gb, **props}}
    return clients.compute.disks.begin_create_or_update(rg, disk or name("disk"), body).result()


def upload_disk(clients: Clients, rg: str, disk: str | None = None, content_mib: int = 20) -> m.Disk:
    body = {
        "location": LOCATION,
        "properties": {"creationData": {"createOption": "Upload", "uploadSizeBytes": content_mib * MIB + FOOTER}},
    }
    return clients.compute.disks.begin_create_or_update(rg, disk or name("up"), body).result()


def copy_of(clients: Clients, rg: str, source_id: str, kind: str = "disk", **props: Any) -> Any:
    body: dict[str, Any] = {
        "location": props.pop("location", LOCATION),
        "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": source_id}, **props},
    }
    if "sku" in props:
        body["sku"] = body["properties"].pop("sku")
    ops = clients.compute.disks if kind == "disk" else clients.compute.snapshots
    return ops.begin_create_or_update(rg, name(kind), body).result()


def vm_body(
    os_disk_id: str,
    data_disk_ids: list[str] = (),  # type: ignore[assignment]
    location: str = LOCATION,
    nic_ids: list[str] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """A VM PUT body; without ``nic_ids`` it has no networkProfile, which Azure refuses (a VM
    needs a NIC: :func:`vm_nic` makes one)."""
    body: dict[str, Any] = {
        "location": location,
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "storageProfile": {
                "osDisk": {"createOption": "Attach", "osType": "Linux", "managedDisk": {"id": os_disk_id}},
                "dataDisks": [
                    {"lun": lun, "createOption": "Attach", "managedDisk": {"id": did}}
                    for lun, did in enumerate(data_disk_ids)
                ],
            },
        },
    }
    if nic_ids:
        body["properties"]["networkProfile"] = {"networkInterfaces": [{"id": n} for n in nic_ids]}
    return body


def vm_nic(clients: Clients, rg: str, location: str = LOCATION) -> str:
    """A NIC for a test VM (a VM needs one), in a new VNet of ``rg``."""
    from tests.emulator.network.helpers import new_nic, new_subnet

    return str(new_nic(clients.network, rg, new_subnet(clients.network, rg, location), location).id)


def new_vm(
    clients: Clients, rg: str, os_disk_id: str, data_disk_ids: list[str] = (), vm: str | None = None  # type: ignore[assignment]
) -> m.VirtualMachine:
    return clients.compute.virtual_machines.begin_create_or_update(
        rg, vm or name("vm"), vm_body(os_disk_id, list(data_disk_ids), nic_ids=[vm_nic(clients, rg)])
    ).result()


#: what the tests write: (offset, bytes) — a MiB at the start, a few pages further on
CHUNKS = [(0, os.urandom(MIB)), (5 * MIB + 4096, os.urandom(8192)), (18 * MIB, os.urandom(MIB))]


def fill(clients: Clients, rg: str, disk: str, size: int, chunks: list[tuple[int, bytes]] = CHUNKS) -> None:
    """Write ``chunks`` and a valid footer through a Write SAS, then end the upload."""
    blob = BlobClient.from_blob_url(grant(clients, rg, disk, access="Write"))
    props = blob.get_blob_properties()
    assert (props.blob_type, props.size) == ("PageBlob", size + FOOTER)
    for offset, data in chunks:
        for start in range(0, len(data), 4 * MIB):  # Put Page takes at most 4 MiB
            part = data[start : start + 4 * MIB]
            blob.upload_page(part, offset=offset + start, length=len(part))
    blob.upload_page(make_footer(size), offset=size, length=FOOTER)
    clients.compute.disks.begin_revoke_access(rg, disk).result()


def code_of(err: pytest.ExceptionInfo[HttpResponseError]) -> str:
    assert err.value.error is not None, err.value
    return str(err.value.error.code)


def sas_query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class RawArm:
    """Plain HTTPS calls with a bearer token, to look at what the SDK hides (headers, bodies)."""

    def __init__(self, credential: ClientSecretCredential, env: dict[str, str]) -> None:
        self.base = env["DISKFERRY_ARM_ENDPOINT"]
        self.sub = env["AZURE_SUBSCRIPTION_ID"]
        self.ca = env["REQUESTS_CA_BUNDLE"]
        self._credential = credential

    def call(self, method: str, url: str, body: Any = None) -> requests.Response:
        if not url.startswith("https://"):
            url = f"{self.base}{url}"
        token = self._credential.get_token(ARM_SCOPE).token
        return requests.request(
            method, url, json=body, headers={"Authorization": f"Bearer {token}"}, verify=self.ca, timeout=30
        )

    def rg_path(self, rg: str) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{rg}/providers/Microsoft.Compute"
