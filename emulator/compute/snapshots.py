"""Snapshots (Microsoft.Compute/snapshots): full and incremental copies of disks.

A snapshot copies its source's content when it is created, so later writes to the disk do
not show in it; it may be taken while the disk is attached to a running VM
(crash-consistent). Incremental snapshots of one disk share an
``incrementalSnapshotFamilyId`` (the emulator stores each one in full). A Premium SSD v2 or
Ultra disk takes incremental snapshots only, copied in the background (``backgroundcopy``).
"""

from __future__ import annotations

import uuid

from diskferry.emulator.arm import ArmRouter
from diskferry.emulator.compute import backgroundcopy, disklike
from diskferry.emulator.compute.common import Doc, ResourceType
from diskferry.emulator.context import Emulator

TYPE = ResourceType("snapshot", "snapshots", on_read=backgroundcopy.refresh)
SKUS = {"Standard_LRS": "Standard", "Premium_LRS": "Premium", "Standard_ZRS": "Standard"}


def _on_create(emu: Emulator, doc: Doc, body: Doc, source: Doc | None) -> None:
    props = doc["properties"]
    props["incremental"] = bool(props.get("incremental", False))
    background = backgroundcopy.needed(source)
    if background and not props["incremental"]:
        assert source is not None
        raise backgroundcopy.full_snapshot_refused(source)
    if not props["incremental"]:
        return
    if source is None:
        family = str(uuid.uuid4())
    elif source["x"]["kind"] == "snapshot":
        family = source["properties"].get("incrementalSnapshotFamilyId") or str(uuid.uuid4())
    else:
        # every incremental snapshot of one disk belongs to the disk's family
        family = source["x"].get("family")
        if family is None:
            family = source["x"]["family"] = str(uuid.uuid4())
            emu.store.put("disk", source["id"], source)
    props["incrementalSnapshotFamilyId"] = family
    if background:
        backgroundcopy.begin(doc, emu.faults.settings.background_copy_seconds)


FLAVOR = disklike.Flavor(
    rt=TYPE,
    what="snapshot",
    skus=SKUS,
    default_sku="Standard_LRS",
    create_options=frozenset({"Copy", "Import"}),
    fixed=("incremental",),
    on_create=_on_create,
)


def register(router: ArmRouter) -> None:
    disklike.register(router, FLAVOR)
