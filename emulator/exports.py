"""Managed-disk and snapshot SAS grants (``beginGetAccess``) and what their URLs serve.

A grant gives a disk or snapshot a pseudo storage account named ``md-<12 hex>`` with its
own key; the SAS URL is ``{blob_url}/md-…/{container}/abcd?{service SAS}``, served by the
blob port like any page blob. ``Read`` grants expose the content as a fixed VHD (content +
footer); ``Write`` grants (disks created with ``Upload``) expose the upload file itself.
``endGetAccess`` deletes the grant, after which its URL answers 403.
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from diskferry.emulator import clock, sas
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError
from diskferry.emulator.pages import Content, PageFile, VhdView
from diskferry.emulator.vhd import make_footer

KIND = "grant"
BLOB_NAME = "abcd"


@dataclass
class Grant:
    account: str
    container: str
    #: "disk" or "snapshot"
    resource_kind: str
    #: lower-cased ARM id of the disk or snapshot
    resource_key: str
    #: "Read" or "Write"
    access: str
    expiry: float
    key: str
    created: float


def create(emu: Emulator, resource_kind: str, resource_key: str, access: str, seconds: int) -> Grant:
    """A new grant (any earlier grant of the resource is replaced, as in Azure)."""
    revoke(emu, resource_kind, resource_key)
    seconds = min(seconds, emu.faults.settings.max_sas_seconds)
    now = clock.now()
    grant = Grant(
        account=f"md-{secrets.token_hex(6)}",
        container=secrets.token_hex(6),
        resource_kind=resource_kind,
        resource_key=resource_key.lower(),
        access=access,
        expiry=now + seconds,
        key=base64.b64encode(os.urandom(32)).decode(),
        created=now,
    )
    emu.store.put(KIND, grant.account, asdict(grant))
    _index(emu).setdefault(_resource(resource_kind, resource_key), set()).add(grant.account)
    return grant


def url(emu: Emulator, grant: Grant) -> str:
    perm = "r" if grant.access == "Read" else "rw"
    token = sas.make_service_sas(grant.account, grant.key, grant.container, BLOB_NAME, perm, grant.expiry)
    return f"{emu.blob_url}/{grant.account}/{grant.container}/{BLOB_NAME}?{token}"


def revoke(emu: Emulator, resource_kind: str, resource_key: str) -> int:
    """Delete every grant of the resource; how many there were."""
    doomed = _index(emu).pop(_resource(resource_kind, resource_key), set())
    for acct in doomed:
        emu.store.delete(KIND, acct)
    return len(doomed)


def _resource(resource_kind: str, resource_key: str) -> str:
    return f"{resource_kind}:{resource_key.lower()}"


def _index(emu: Emulator) -> dict[str, set[str]]:
    """Grant accounts by resource, built from the store once: granting and revoking stay
    O(1) with thousands of grants (each grant replaces the resource's previous ones)."""
    if emu.export_index is None:
        index: dict[str, set[str]] = {}
        for acct, doc in emu.store.items(KIND):
            index.setdefault(_resource(doc["resource_kind"], doc["resource_key"]), set()).add(acct)
        emu.export_index = index
    return emu.export_index


def active(emu: Emulator, resource_kind: str | None = None) -> list[Grant]:
    return [
        Grant(**doc)
        for doc in emu.store.values(KIND)
        if resource_kind is None or doc["resource_kind"] == resource_kind
    ]


def find(emu: Emulator, account: str) -> Grant | None:
    doc = emu.store.get(KIND, account)
    return Grant(**doc) if doc else None


def is_export_account(account: str) -> bool:
    return account.lower().startswith("md-")


def resource_doc(emu: Emulator, grant: Grant) -> dict[str, Any] | None:
    return emu.store.get(grant.resource_kind, grant.resource_key)


def open_export(
    emu: Emulator, account: str, container: str, blob: str, query: dict[str, str], needed: str
) -> Content | PageFile:
    """What an export URL serves, after checking its SAS; Azure's 403/404 otherwise.

    ``needed`` is the permission letter the call needs (``r`` to read, ``w`` to write).
    Reads get a ``Content`` (a fixed VHD view of a Read grant, or the upload file of a
    Write grant); writes get the writable ``PageFile`` of a Write grant.
    """
    grant = find(emu, account)
    if grant is None:
        # the pseudo account no longer exists once access is revoked
        raise AzureError(
            403,
            "AuthenticationFailed",
            "Server failed to authenticate the request. The SAS was revoked or never existed.",
        )
    if not sas.is_sas(query):
        raise AzureError(403, "NoAuthenticationInformation", "Server failed to authenticate the request.")
    if container != grant.container or blob != BLOB_NAME:
        raise AzureError(404, "BlobNotFound", "The specified blob does not exist.")
    sas.check_service_sas(query, account, [grant.key], container, blob, needed)
    doc = resource_doc(emu, grant)
    if doc is None:
        raise AzureError(404, "BlobNotFound", "The specified blob does not exist.")
    data = emu.pages(doc["x"]["data"])
    if grant.access == "Write":
        return data
    if needed != "r":
        raise AzureError(
            403,
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation using this permission.",
        )
    return VhdView(data, footer_for(doc))


def footer_for(doc: dict[str, Any]) -> bytes:
    """The VHD footer of a disk or snapshot document (stable for its lifetime)."""
    size = int(doc["properties"]["diskSizeBytes"])
    fid = doc["x"].get("footer_uid")
    unique = uuid.UUID(fid) if fid else uuid.UUID(int=0)
    return make_footer(size, unique, doc["x"].get("created", 0))
