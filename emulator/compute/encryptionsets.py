"""Disk encryption sets (Microsoft.Compute/diskEncryptionSets) and the ``encryption`` of the
disks, snapshots and images that name one.

A disk encrypted with a customer-managed key names a disk encryption set (DES), which names the
key in a key vault. Azure's rules kept (Microsoft's "Server-side encryption of Azure Disk
Storage", Restrictions: "All resources related to your customer-managed keys (Azure Key Vaults,
disk encryption sets, VMs, disks, and snapshots) must be in the same subscription and region";
a DES that does not exist is ``BadRequest`` "DiskEncryptionSet '<id>' was not found", as the
Azure CLI reports it):

- a disk's ``encryption.type`` is ``EncryptionAtRestWithPlatformKey`` (the default),
  ``EncryptionAtRestWithCustomerKey`` or ``EncryptionAtRestWithPlatformAndCustomerKeys``; the
  last two need ``diskEncryptionSetId``, of a DES in the disk's region and subscription whose
  ``encryptionType`` is the disk's;
- a snapshot or disk copied (``Copy``) from one encrypted with a customer-managed key keeps its
  encryption when the request names none; an ``Import`` from a VHD has nothing to keep: it gets
  platform-managed keys unless the request names a DES;
- a DES that encrypts a disk, snapshot or image cannot be deleted.

Nothing here encrypts bytes: the emulator models which key a resource is under, which is what
diskferry must carry across regions.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from diskferry.emulator.arm import ArmRequest, ArmRouter
from diskferry.emulator.compute import common
from diskferry.emulator.compute.common import Doc, ResourceType
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, bad_request
from diskferry.emulator.network import common as network_common

TYPE = ResourceType("diskencryptionset", "diskEncryptionSets")
PLATFORM = "EncryptionAtRestWithPlatformKey"
CUSTOMER = "EncryptionAtRestWithCustomerKey"
DOUBLE = "EncryptionAtRestWithPlatformAndCustomerKeys"
CONFIDENTIAL = "ConfidentialVmEncryptedWithCustomerKey"
#: a disk's encryption types, canonical spelling by lower case
DISK_TYPES = {t.lower(): t for t in (PLATFORM, CUSTOMER, DOUBLE)}
#: a DES's encryption types
SET_TYPES = {t.lower(): t for t in (CUSTOMER, DOUBLE, CONFIDENTIAL)}
#: the kinds of resources that can be under a DES (deleting a DES they use is refused)
USERS = ("disk", "snapshot", "image")


async def put(ctx: ArmRequest) -> web.StreamResponse:
    target = await network_common.put_target(ctx, TYPE)
    body = target.body
    props = body.get("properties") or {}
    raw_type = str(props.get("encryptionType") or CUSTOMER)
    set_type = SET_TYPES.get(raw_type.lower())
    if set_type is None:
        raise common.invalid("encryptionType", f"The value '{raw_type}' of parameter 'encryptionType' is invalid. "
                             f"Allowed values: {', '.join(SET_TYPES.values())}.")
    key = props.get("activeKey") or {}
    key_url = common.required(key.get("keyUrl"), "activeKey.keyUrl")
    identity = body.get("identity") or {}
    if not identity.get("type") or identity["type"] == "None":
        # the DES reads its key with its managed identity: without one it could never unwrap it
        raise bad_request("A managed identity is required for a disk encryption set: set identity.type to "
                          "SystemAssigned or UserAssigned.")
    old = target.old
    if old is not None and old["properties"]["encryptionType"] != set_type:
        raise bad_request(f"The encryptionType of disk encryption set {ctx.params['name']} cannot be changed.")
    doc: Doc = {
        "id": target.id,
        "name": ctx.params["name"],
        "type": TYPE.type,
        "location": target.location,
        "identity": {"type": identity["type"], "principalId": (old or {}).get("identity", {}).get(
            "principalId") or str(uuid.uuid4()), "tenantId": ctx.emu.identity.tenant_id},
        "properties": {
            "encryptionType": set_type,
            "activeKey": {k: v for k, v in key.items() if v is not None} | {"keyUrl": key_url},
            "rotationToLatestKeyVersionEnabled": bool(props.get("rotationToLatestKeyVersionEnabled", False)),
            "provisioningState": "Succeeded",
        },
        "x": {"kind": TYPE.kind},
    }
    # the REST spec answers 200 or 202 (an operation): a DES made at once is 200, new or not
    return network_common.save_at_once(ctx, TYPE, doc, body)


async def delete(ctx: ArmRequest) -> web.StreamResponse:
    def in_use(doc: Doc) -> AzureError | None:
        user = _first_user(ctx.emu, doc["id"])
        if user is None:
            return None
        return AzureError(409, "OperationNotAllowed",
                          f"Disk encryption set {doc['name']} cannot be deleted: it is in use by {user}.")

    return network_common.delete_at_once(ctx, TYPE, in_use)


def _first_user(emu: Emulator, set_id: str) -> str | None:
    wanted = set_id.lower()
    for kind in USERS:
        for doc in emu.store.values(kind, ""):
            if wanted in {s.lower() for s in sets_of(doc)}:
                return str(doc["id"])
    return None


def sets_of(doc: Doc) -> list[str]:
    """The DES ids a disk, snapshot or image is under."""
    props = doc.get("properties") or {}
    found = [(props.get("encryption") or {}).get("diskEncryptionSetId")]
    profile = props.get("storageProfile") or {}
    for entry in [profile.get("osDisk") or {}, *(profile.get("dataDisks") or [])]:
        found.append((entry.get("diskEncryptionSet") or {}).get("id"))
    return [s for s in found if s]


# ---------------------------------------------------------------------------------------
# what disks, snapshots and images use


def checked_set(emu: Emulator, set_id: str, location: str, sub: str) -> Doc:
    """The DES a resource in ``location`` of subscription ``sub`` names, after Azure's checks."""
    doc = TYPE.by_id(emu, set_id)
    if doc is None:
        raise bad_request(f"DiskEncryptionSet '{set_id}' was not found.")
    if common.norm_location(doc["location"]) != common.norm_location(location):
        raise bad_request(
            f"Disk encryption set '{set_id}' is in location '{doc['location']}', and resources encrypted with it "
            f"must be in the same location; this one is in '{location}'."
        )
    if doc["id"].split("/")[2].lower() != sub.lower():
        raise bad_request(f"Disk encryption set '{set_id}' belongs to another subscription: resources encrypted "
                          "with it must be in its subscription.")
    return doc


def encryption(emu: Emulator, given: Doc | None, location: str, sub: str, source: Doc | None) -> Doc:
    """The ``encryption`` a new disk or snapshot holds: the request's after Azure's checks, else
    its copy source's, else platform-managed keys."""
    if not given:
        kept = ((source or {}).get("properties") or {}).get("encryption")
        if kept and kept.get("diskEncryptionSetId") and TYPE.by_id(emu, kept["diskEncryptionSetId"]) is not None:
            return dict(kept)
        return {"type": PLATFORM}
    raw_type = str(given.get("type") or (CUSTOMER if given.get("diskEncryptionSetId") else PLATFORM))
    kind = DISK_TYPES.get(raw_type.lower())
    if kind is None:
        raise common.invalid("encryption.type", f"The value '{raw_type}' of parameter 'encryption.type' is invalid.")
    set_id = given.get("diskEncryptionSetId")
    if kind == PLATFORM:
        if set_id:
            raise bad_request(f"encryption.diskEncryptionSetId cannot be given with encryption type {PLATFORM}.")
        return {"type": PLATFORM}
    if not set_id:
        raise bad_request(f"encryption.diskEncryptionSetId is required with encryption type {kind}.")
    des = checked_set(emu, str(set_id), location, sub)
    if des["properties"]["encryptionType"] != kind:
        raise bad_request(
            f"Encryption type {kind} does not match the encryption type "
            f"{des['properties']['encryptionType']} of disk encryption set '{des['id']}'."
        )
    return {"type": kind, "diskEncryptionSetId": des["id"]}


def image_entry_set(emu: Emulator, entry: Doc, location: str, sub: str) -> Doc | None:
    """An image disk entry's ``diskEncryptionSet``, after the checks a disk's gets."""
    ref = entry.get("diskEncryptionSet") or {}
    if not ref.get("id"):
        return None
    return {"id": checked_set(emu, str(ref["id"]), location, sub)["id"]}


def register(router: ArmRouter) -> None:
    network_common.register_crud(router, TYPE, put, delete)


network_common.drop_with_group(TYPE)
