"""Customer-managed keys: a disk encryption set serves one region, so a source disk under one
is imported elsewhere under the set the target names, and cloned in the source's region
under its own set; the data arrives byte for byte and nothing is left behind."""

from __future__ import annotations

from typing import Any

from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_image_content, assert_same_content, job_disks
from tests.fleet.conftest import Fleet, vm_job
from tests.fleet.sources import seed_vms, unique_rg

CUSTOMER = "EncryptionAtRestWithCustomerKey"
PLATFORM = "EncryptionAtRestWithPlatformKey"


def make_set(clients: Clients, rg: str, region: str, name: str) -> str:
    """A disk encryption set in ``rg`` (made with the group), in ``region``."""
    clients.resource.resource_groups.create_or_update(rg, {"location": region})
    body = {"location": region, "identity": {"type": "SystemAssigned"},
            "properties": {"encryptionType": CUSTOMER, "activeKey": {"keyUrl": f"https://{rg}.vault/keys/{name}"}}}
    return str(clients.compute.disk_encryption_sets.begin_create_or_update(rg, name, body).result().id)


def encryption_of(disks: list[Any]) -> dict[str, tuple[str, str | None]]:
    return {d.name: (d.encryption.type, d.encryption.disk_encryption_set_id) for d in disks}


def test_disks_under_a_customer_key_stay_under_one(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = unique_rg("cmk")
    (vm,) = seed_vms(fleet, rg, {"name": "vault", "os_disk": {"size_gb": 1, "encryption_set": "src-keys"},
                                 "data_disks": [1]})
    source_set = clients.compute.disk_encryption_sets.get(rg, "src-keys").id
    we_set = make_set(clients, f"we-{rg}", "westeurope", "we-keys")
    job_id = fleet.submit(vm_job(rg, ["vault"], [
        {"region": "westeurope", "resource_group": f"we-{rg}", "disk_encryption_set": "we-keys"},
        # the source's own region: its disks keep the source's set, named by no one
        {"region": "francecentral", "resource_group": f"fr-{rg}"},
    ], name="{source}-{key}-{region}"))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    assert encryption_of(job_disks(clients, job_id)) == {
        # the target's set, for every disk made there: the operator named it for the target
        "vault-os-westeurope": (CUSTOMER, we_set),
        "vault-lun0-westeurope": (CUSTOMER, we_set),
        # in-region: the source's set for the disk under it, platform keys for the one that was not
        "vault-os-francecentral": (CUSTOMER, source_set),
        "vault-lun0-francecentral": (PLATFORM, None),
    }
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_an_image_made_from_them_is_under_the_targets_set(fleet: Fleet, fast_copies: AdminClient,
                                                          clients: Clients) -> None:
    rg = unique_rg("cmkimg")
    (vm,) = seed_vms(fleet, rg, {"name": "tmpl", "os_disk": {"size_gb": 1, "encryption_set": "src-keys"}})
    br_set = make_set(clients, f"br-{rg}", "brazilsouth", "br-keys")
    job_id = fleet.submit(vm_job(rg, ["tmpl"], [
        {"region": "brazilsouth", "resource_group": f"br-{rg}", "disk_encryption_set": br_set},
    ], image=True))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    image = clients.compute.images.get(f"br-{rg}", "tmpl-brazilsouth")
    assert image.storage_profile.os_disk.disk_encryption_set.id == br_set
    assert_image_content(fleet, vm, image.id)
    assert job_disks(clients, job_id) == []  # the image holds the data
    assert_clean(fleet, job_id)
