"""Seeding images for the tests: ``emulator.seed`` deletes an image's source snapshots once
the image exists, but an image is replicated (as by ``az image copy``) from those sources,
so here the image is built from snapshots of a seeded VM's disks, and the snapshots stay.
"""

from __future__ import annotations

from typing import Any

from azure.mgmt.compute import models as m

from emulator.seed import Seeded, SeededDisk
from tests.conftest import Clients
from tests.fleet.conftest import Fleet


def seed_image(fleet: Fleet, clients: Clients, rg: str, name: str, os_disk_gb: int, data: list[dict[str, Any]],
               os_type: str = "Linux", location: str = "francecentral") -> Seeded:
    """An image of ``name``'s disks (a seeded VM ``{name}-vm``), from snapshots that are kept."""
    vm = fleet.seed({"resource_group": rg, "location": location, "data_mib": 1, "vms": [
        {"name": f"{name}-vm", "os_disk": os_disk_gb, "os_type": os_type, "data_disks": data}]}).items[0]
    snaps = []
    for disk in vm.disks:
        body = m.Snapshot(location=location, properties=m.SnapshotProperties(
            incremental=False, creation_data=m.CreationData(create_option="Copy", source_resource_id=disk.id)))
        snaps.append(clients.compute.snapshots.begin_create_or_update(rg, f"{disk.name}-snap", body).result())
    os_snap, data_snaps = snaps[0], snaps[1:]
    body = m.Image(location=location, properties=m.ImageProperties(
        hyper_v_generation="V2",
        storage_profile=m.ImageStorageProfile(
            os_disk=m.ImageOSDisk(os_type=os_type, os_state="Generalized", snapshot=m.SubResource(id=os_snap.id)),
            data_disks=[m.ImageDataDisk(lun=d.lun, snapshot=m.SubResource(id=s.id))
                        for d, s in zip(vm.disks[1:], data_snaps, strict=True)],
        )))
    image = clients.compute.images.begin_create_or_update(rg, name, body).result()
    disks = [SeededDisk(d.name, s.id, d.lun, d.size_gb, d.sha256, d.allocated) for d, s in zip(vm.disks, snaps,
                                                                                             strict=True)]
    return Seeded("image", name, image.id, rg, location, True, disks)
