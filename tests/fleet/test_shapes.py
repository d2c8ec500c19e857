"""Shapes of jobs beyond the README's: every one replicates byte for byte and leaves nothing.

VMs with only an OS disk or with LUN gaps, images with only an OS disk, with LUN gaps or
Windows, several sources sharing a target (same-named ones from two groups too), three
targets including the source's own region with a zone, an operator's staging account,
``consistency`` against VMs in every power state, VMs whose disks live in another group,
images built from a running VM's disks, names that would collide (refused before anything
is made), and a target resource group that lives in another region than its disks.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.mgmt.compute.models import Image, VirtualMachine

from diskferry.emulator.admin_client import AdminClient
from diskferry.errors import JobFailed
from diskferry.model import Phase
from diskferry.producer import api
from tests.conftest import Clients
from tests.fleet.checks import (
    assert_clean,
    assert_image_content,
    assert_same_content,
    delta,
    job_disks,
    power_state,
)
from tests.fleet.conftest import Fleet, parse_job, vm_job
from tests.fleet.images import seed_image
from tests.fleet.sources import seed_vms, unique_rg
from tests.fleet.test_cli import diskferry

DEALLOCATE = "Microsoft.Compute/virtualMachines/deallocate/action"
START = "Microsoft.Compute/virtualMachines/start/action"


def _refused(fleet: Fleet, admin: AdminClient, doc: dict[str, Any]) -> JobFailed:
    """Submit ``doc``, which must be refused at plan time with nothing made or enqueued."""
    jobs_before = [j.id for j in fleet.store.list(1000)]
    audit_before = admin.audit()["counts"]
    before = admin.counters()
    with pytest.raises(JobFailed) as err:
        fleet.submit(doc)
    writes = [op for op in delta(before, admin.counters()) if not op.endswith("/read") and op != "oauth2.token"]
    assert writes == []
    assert admin.audit()["counts"] == audit_before
    assert [j.id for j in fleet.store.list(1000)] == jobs_before
    return err.value


# -- VMs ------------------------------------------------------------------------------------------


def test_vm_with_only_an_os_disk(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = unique_rg("osonly")
    (vm,) = seed_vms(fleet, rg, {"name": "solo", "os_disk": 2, "os_type": "Windows", "hyper_v_generation": "V1"})
    job_id = fleet.submit(vm_job(rg, ["solo"], [{"region": "westeurope", "resource_group": f"we-{rg}"}]))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    (disk,) = status.disks()
    assert disk.key == "os"
    made = clients.compute.disks.get(f"we-{rg}", "solo-solo-osdisk-westeurope")
    assert made.id == disk.result_id
    assert made.os_type == "Windows" and made.hyper_v_generation == "V1"
    assert made.disk_size_bytes == 2 * 1024**3
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_vm_with_many_data_disks_and_lun_gaps(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = unique_rg("luns")
    luns = [0, 3, 7, 15, 31, 63]
    # six data disks need a size that takes them (Standard_D2s_v5 takes 4, Standard_E4s_v5 8)
    wide = {"name": "wide", "os_disk": 1, "vm_size": "Standard_E4s_v5",
            "data_disks": [{"size_gb": 1, "lun": n} for n in luns]}
    (vm,) = seed_vms(fleet, rg, wide)
    job_id = fleet.submit(vm_job(rg, ["wide"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}],
                                 name="{source}-{key}"))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    assert sorted(d.key for d in status.disks()) == sorted(["os", *(f"lun{n}" for n in luns)])
    names = sorted(d.name for d in job_disks(clients, job_id))
    assert names == sorted(["wide-os", *(f"wide-lun{n}" for n in luns)])
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_vm_with_premium_v2_and_ultra_data_disks(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    """Azure takes only incremental snapshots of Premium SSD v2 and Ultra disks, and exports them
    only once its background copy of them ends: the job waits for it (without a worker slot) and
    replicates them like any other disk; an Ultra disk needs a target sku (made only empty)."""
    fast_copies.set(background_copy_seconds=3.0)
    rg = unique_rg("pv2")
    spec = {"name": "db", "os_disk": 1, "data_disks": [{"size_gb": 2, "sku": "PremiumV2_LRS"},
                                                        {"size_gb": 1, "sku": "UltraSSD_LRS"}]}
    (vm,) = seed_vms(fleet, rg, spec)
    job_id = fleet.submit(vm_job(rg, ["db"], [{"region": "brazilsouth", "resource_group": f"br-{rg}",
                                               "sku": "Premium_LRS"}]))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    assert sorted(d.key for d in status.disks()) == ["lun0", "lun1", "os"]
    assert {d.sku.name for d in job_disks(clients, job_id)} == {"Premium_LRS"}
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_vm_as_an_image_keeps_its_lun_gaps(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = unique_rg("vmimg")
    seed_vms(fleet, rg, {"name": "tmpl", "os_disk": 1,
                          "data_disks": [{"size_gb": 1, "lun": 2}, {"size_gb": 1, "lun": 9}]})
    job_id = fleet.submit(vm_job(rg, ["tmpl"], [{"region": "westeurope", "resource_group": f"we-{rg}"}], image=True))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    made = clients.compute.images.get(f"we-{rg}", "tmpl-westeurope")
    assert made.storage_profile.os_disk.os_state == "Specialized"
    assert sorted(d.lun for d in made.storage_profile.data_disks) == [2, 9]
    assert job_disks(clients, job_id) == []  # the image holds the data
    assert_clean(fleet, job_id)


# -- images ----------------------------------------------------------------------------------------


def test_image_with_only_an_os_disk(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = unique_rg("imgos")
    image = seed_image(fleet, rg, "bare", 2, [])
    job_id = fleet.submit({"source": {"resource_group": rg, "images": ["bare"]},
                           "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]})
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    (target,) = status.targets()
    made = clients.compute.images.get(f"br-{rg}", "bare-brazilsouth")
    assert made.storage_profile.data_disks == []
    assert made.storage_profile.os_disk.os_type == "Linux"
    assert target.image_id == made.id
    assert_image_content(fleet, image, str(made.id))
    assert_clean(fleet, job_id)


def test_windows_image_with_data_disks_at_lun_gaps(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = unique_rg("imgwin")
    image = seed_image(fleet, rg, "win2022", 2, [{"size_gb": 1, "lun": 1}, {"size_gb": 2, "lun": 4},
                                                 {"size_gb": 1, "lun": 10}], os_type="Windows")
    original = clients.compute.images.get(rg, "win2022")
    job_id = fleet.submit({"source": {"resource_group": rg, "images": ["win2022"]},
                           "targets": [{"region": "eastus", "resource_group": f"us-{rg}", "sku": "Premium_LRS"}]})
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    made = clients.compute.images.get(f"us-{rg}", "win2022-eastus")
    assert made.storage_profile.os_disk.os_type == "Windows"
    assert made.storage_profile.os_disk.os_state == original.storage_profile.os_disk.os_state
    assert made.hyper_v_generation == original.hyper_v_generation
    assert [d.lun for d in made.storage_profile.data_disks] == [1, 4, 10]
    assert {d.storage_account_type for d in made.storage_profile.data_disks} == {"Premium_LRS"}
    assert_image_content(fleet, image, str(made.id))
    assert_clean(fleet, job_id)


# -- several sources, one target ------------------------------------------------------------------


def test_several_vms_share_a_target(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = unique_rg("many")
    vms = seed_vms(fleet, rg, {"name": "web", "os_disk": 1, "data_disks": [1]},
                    {"name": "api", "os_disk": 1, "data_disks": [1, 1]}, {"name": "db", "os_disk": 1})
    job_id = fleet.submit(vm_job(rg, ["web", "api", "db"], [{"region": "westeurope", "resource_group": f"we-{rg}"}]))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    # the default template {source}-{disk}-{region} keeps them apart
    names = sorted(d.name for d in job_disks(clients, job_id))
    assert names == sorted(f"{vm.name}-{d.name}-westeurope" for vm in vms for d in vm.disks)
    for vm in vms:
        assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_same_named_vms_of_two_groups_share_a_target(fleet: Fleet, fast_copies: AdminClient,
                                                     clients: Clients, admin: AdminClient) -> None:
    paris, lyon = unique_rg("paris"), unique_rg("lyon")
    spec = {"name": "app", "os_disk": 1, "data_disks": [1]}
    (vm_paris,) = seed_vms(fleet, paris, spec)
    (vm_lyon,) = seed_vms(fleet, lyon, spec)
    assert [d.name for d in vm_paris.disks] == [d.name for d in vm_lyon.disks]
    assert [d.sha256 for d in vm_paris.disks] != [d.sha256 for d in vm_lyon.disks]
    doc: dict[str, Any] = {"sources": [{"resource_group": paris, "vms": ["app"]},
                                       {"resource_group": lyon, "vms": ["app"]}],
                           "targets": [{"region": "westeurope", "resource_group": f"we-{paris}"}]}
    # the default template cannot tell them apart: refused before anything is made
    err = _refused(fleet, admin, doc)
    assert err.code == "DuplicateDestination"
    assert err.message == (f"options.name: disk we-{paris}/app-app-osdisk-westeurope would be made twice, "
                           f"from vm {paris}/app disk os and from vm {lyon}/app disk os")
    doc["options"] = {"name": "{source_rg}-{source}-{key}"}
    job_id = fleet.submit(doc)
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    names = sorted(d.name for d in job_disks(clients, job_id))
    assert names == sorted(f"{rg}-app-{key}" for rg in (paris, lyon) for key in ("os", "lun0"))
    assert_same_content(fleet, vm_paris, status)
    assert_same_content(fleet, vm_lyon, status)
    assert_clean(fleet, job_id)


def test_a_source_listed_twice_is_refused(fleet: Fleet, admin: AdminClient) -> None:
    rg = unique_rg("twice")
    seed_vms(fleet, rg, {"name": "app", "os_disk": 1})
    doc = {"sources": [{"resource_group": rg, "vms": ["app"]}, {"resource_group": rg.upper(), "vms": ["APP"]}],
           "targets": [{"region": "westeurope", "resource_group": f"we-{rg}"}]}
    err = _refused(fleet, admin, doc)
    assert err.code == "DuplicateSource"
    assert err.message == f"sources[1]: vm {rg.upper()}/app is listed twice"


@pytest.mark.parametrize("command", ["plan", "submit"])
def test_colliding_names_exit_2_from_the_cli(fleet: Fleet, admin: AdminClient, tmp_path: Path, command: str) -> None:
    rg = unique_rg("clash")
    seed_vms(fleet, rg, {"name": "web", "os_disk": 1}, {"name": "db", "os_disk": 1})
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(vm_job(rg, ["web", "db"], [{"region": "westeurope", "resource_group": "we"}],
                                         name="{region}-{key}")))
    audit_before = admin.audit()

    done = diskferry(fleet, command, str(job))

    assert done.returncode == 2, done.stderr  # bad input, not "Azure unavailable" (3)
    assert "DuplicateDestination: options.name: disk we/westeurope-os would be made twice" in done.stderr
    assert admin.audit() == audit_before


def test_an_image_and_a_vm_of_the_same_name(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = unique_rg("twin")
    (vm,) = seed_vms(fleet, rg, {"name": "app", "os_disk": 1, "data_disks": [1]})
    image = seed_image(fleet, rg, "app", 1, [1])
    job_id = fleet.submit({"source": {"resource_group": rg, "vms": ["app"], "images": ["app"]},
                           "targets": [{"region": "westeurope", "resource_group": f"we-{rg}"}]})
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    assert sorted(s.kind for s in status.sources) == ["image", "vm"]
    assert_same_content(fleet, vm, status)  # the VM's disks
    made = clients.compute.images.get(f"we-{rg}", "app-westeurope")
    assert_image_content(fleet, image, str(made.id))  # the image, from the image's disks
    assert sorted(d.name for d in job_disks(clients, job_id)) == ["app-app-data0-westeurope",
                                                                  "app-app-osdisk-westeurope"]
    assert_clean(fleet, job_id)


def test_an_image_and_a_vm_that_would_make_one_image_are_refused(fleet: Fleet, admin: AdminClient) -> None:
    rg = unique_rg("twini")
    seed_vms(fleet, rg, {"name": "app", "os_disk": 1})
    seed_image(fleet, rg, "app", 1, [])
    doc = {"source": {"resource_group": rg, "vms": ["app"], "images": ["app"]},
           "targets": [{"region": "westeurope", "resource_group": f"we-{rg}"}], "options": {"image": True}}
    err = _refused(fleet, admin, doc)
    assert err.code == "DuplicateDestination"
    assert err.message == (f"options.image_name: image we-{rg}/app-westeurope would be made twice, "
                           f"from vm {rg}/app and from image {rg}/app")


def test_colliding_disk_names_are_refused_at_plan_time(fleet: Fleet, admin: AdminClient) -> None:
    rg = unique_rg("clash")
    seed_vms(fleet, rg, {"name": "web", "os_disk": 1, "data_disks": [1]}, {"name": "db", "os_disk": 1})
    doc = vm_job(rg, ["web", "db"], [{"region": "westeurope", "resource_group": f"we-{rg}"}], name="{key}-{region}")
    err = _refused(fleet, admin, doc)
    assert err.code == "DuplicateDestination"
    assert err.message == (f"options.name: disk we-{rg}/os-westeurope would be made twice, "
                           f"from vm {rg}/web disk os and from vm {rg}/db disk os")


def test_an_image_name_taken_at_the_target_fails_the_pair_cleanly(fleet: Fleet, fast_copies: AdminClient,
                                                                  clients: Clients) -> None:
    rg = unique_rg("taken")
    image = seed_image(fleet, rg, "golden", 1, [1])
    squatter = seed_image(fleet, f"we-{rg}", "golden-westeurope", 1, [], location="westeurope")
    doc = {"source": {"resource_group": rg, "images": ["golden"]},
           "targets": [{"region": "westeurope", "resource_group": f"we-{rg}"},
                       {"region": "brazilsouth", "resource_group": f"br-{rg}"}]}
    plan = api.plan_job(parse_job(doc), settings=fleet.settings, cloud=fleet.cloud)
    assert plan.warnings == [f"image golden-westeurope already exists in we-{rg}"]
    job_id = fleet.submit(doc)
    status = fleet.wait(job_id)

    assert status.phase is Phase.failed
    taken, free = sorted(status.targets(), key=lambda t: t.region != "westeurope")
    assert taken.phase is Phase.failed and taken.error is not None
    assert taken.error.code == "ImageAlreadyExists"
    # every disk of the failed pair has its outcome: none is left "importing"
    assert [(d.phase, d.error.code if d.error else None) for d in taken.disks] == [
        (Phase.failed, "ImageAlreadyExists")] * 2
    assert free.phase is Phase.succeeded and free.image_id
    assert_image_content(fleet, image, free.image_id)
    kept = clients.compute.images.get(f"we-{rg}", "golden-westeurope")
    assert kept.id == squatter.id and "diskferry-job" not in (kept.tags or {})
    assert_image_content(fleet, squatter, str(kept.id))
    assert job_disks(clients, job_id) == []
    summary = next(j for j in fleet.store.list(1000) if j.id == job_id)
    assert (summary.disks_succeeded, summary.disks_failed) == (2, 2)
    assert_clean(fleet, job_id)


# -- regions -------------------------------------------------------------------------------------


def test_three_regions_and_the_source_region_with_a_zone(fleet: Fleet, fast_copies: AdminClient,
                                                         clients: Clients) -> None:
    rg = unique_rg("tri")
    (vm,) = seed_vms(fleet, rg, {"name": "app", "os_disk": 1, "data_disks": [{"size_gb": 1, "lun": 5}]})
    image = seed_image(fleet, rg, "golden", 1, [{"size_gb": 1, "lun": 2}])
    targets = [{"region": "brazilsouth", "resource_group": f"br-{rg}"},
               {"region": "westeurope", "resource_group": f"we-{rg}", "sku": "StandardSSD_LRS"},
               {"region": "eastus", "resource_group": f"us-{rg}"},
               {"region": "francecentral", "resource_group": f"fc-{rg}", "zone": 3}]
    before = fast_copies.counters()
    job_id = fleet.submit({"source": {"resource_group": rg, "vms": ["app"], "images": ["golden"]},
                           "targets": targets})
    status = fleet.wait(job_id, timeout=90)
    calls = delta(before, fast_copies.counters())

    assert status.phase is Phase.succeeded, status
    assert len(status.targets()) == 8
    assert_same_content(fleet, vm, status)
    for target in status.targets():
        if target.source.startswith("image/"):
            assert target.image_id
            assert_image_content(fleet, image, target.image_id)
            made = clients.compute.images.get(target.resource_group, f"golden-{target.region}")
            assert made.location == target.region
            assert [d.lun for d in made.storage_profile.data_disks] == [2]
    zonal = [d for d in job_disks(clients, job_id) if d.location == "francecentral"]
    assert sorted(d.name for d in zonal) == ["app-app-data5-francecentral", "app-app-osdisk-francecentral"]
    assert all(d.zones == ["3"] and d.creation_data.create_option == "Copy" for d in zonal)
    # one snapshot of each VM disk (the image's own snapshots are read as they are), one grant
    # per source disk, three staged copies of each disk, one staging account per remote region
    # (made, perhaps by two pairs at once, and deleted once); the image's own snapshots are
    # tagged diskferry-grant before their grant and untagged after the revoke (for gc)
    assert calls.get("Microsoft.Compute/snapshots/write") == 2 + 2 * 2
    assert calls.get("Microsoft.Compute/snapshots/beginGetAccess/action") == 4
    assert calls.get("blob.CopyBlob") == 12
    assert calls.get("Microsoft.Storage/storageAccounts/delete") == 3
    assert_clean(fleet, job_id)


def test_target_group_in_another_region(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = unique_rg("elsewhere")
    (vm,) = seed_vms(fleet, rg, {"name": "app", "os_disk": 1, "data_disks": [1]})
    image = seed_image(fleet, rg, "golden", 1, [])
    # Azure resources may live in a group of any region: this one's metadata is in eastus
    clients.resource.resource_groups.create_or_update(f"x-{rg}", {"location": "eastus"})
    doc = {"source": {"resource_group": rg, "vms": ["app"], "images": ["golden"]},
           "targets": [{"region": "westeurope", "resource_group": f"x-{rg}"}]}
    plan = api.plan_job(parse_job(doc), settings=fleet.settings, cloud=fleet.cloud)
    assert plan.warnings == [f"resource group x-{rg} is in eastus; its disks go to westeurope all the same"]
    job_id = fleet.submit(doc)
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    assert {d.location for d in job_disks(clients, job_id)} == {"westeurope"}
    assert clients.compute.images.get(f"x-{rg}", "golden-westeurope").location == "westeurope"
    assert clients.resource.resource_groups.get(f"x-{rg}").location == "eastus"
    assert_same_content(fleet, vm, status)
    image_target = next(t for t in status.targets() if t.image_id)
    assert image_target.image_id
    assert_image_content(fleet, image, image_target.image_id)
    assert_clean(fleet, job_id)


@pytest.mark.parametrize("shared_key", [True, False], ids=["keys", "entra-only"])
def test_an_operators_staging_account_is_used_and_kept(fleet: Fleet, fast_copies: AdminClient,
                                                       clients: Clients, shared_key: bool) -> None:
    """An operator's staging account is used and kept; one that allows no Shared Key (a policy
    many organisations enforce) is reached with Microsoft Entra ID, its keys never listed."""
    rg = unique_rg("own")
    (vm,) = seed_vms(fleet, rg, {"name": "app", "os_disk": 1, "data_disks": [1]})
    image = seed_image(fleet, rg, "golden", 1, [1])
    ops_rg, account = f"ops-{rg}", f"ops{uuid.uuid4().hex[:12]}"
    clients.resource.resource_groups.create_or_update(ops_rg, {"location": "westeurope"})
    made = clients.storage.storage_accounts.begin_create(
        ops_rg, account, {"location": "westeurope", "kind": "StorageV2", "sku": {"name": "Standard_LRS"},
                          "properties": {"allowSharedKeyAccess": shared_key}}
    ).result()
    if not shared_key:  # its keys are never asked for: a listKeys of it would fail the job
        fast_copies.add_fault(op="Microsoft.Storage/storageAccounts/listKeys/action", status=403,
                              code="AuthorizationFailed", message="not for diskferry", count=-1,
                              target=f"*/storageaccounts/{account}/listkeys")
    before = fast_copies.counters()
    job_id = fleet.submit({"source": {"resource_group": rg, "vms": ["app"], "images": ["golden"]},
                           "targets": [{"region": "westeurope", "resource_group": f"we-{rg}",
                                        "staging_account": account},
                                       {"region": "brazilsouth", "resource_group": f"br-{rg}"}]})
    status = fleet.wait(job_id)
    calls = delta(before, fast_copies.counters())

    assert status.phase is Phase.succeeded, status
    assert_same_content(fleet, vm, status)
    image_ids = [t.image_id for t in status.targets() if t.image_id]
    assert len(image_ids) == 2
    for image_id in image_ids:
        assert_image_content(fleet, image, image_id)
    # the operator's account was used (the job made one account only, in brazilsouth, which two
    # pairs may both PUT: the create is idempotent) and kept, with none of the job's blobs in it
    assert calls.get("Microsoft.Storage/storageAccounts/delete") == 1
    kept = clients.storage.storage_accounts.get_properties(ops_rg, account)
    assert kept.id == made.id and not kept.tags
    info = fleet.cloud.storage.get_account(clients.subscription_id, ops_rg, account)
    assert info is not None and info.shared_key is shared_key
    assert fleet.cloud.storage.list_blobs(info, "diskferry-staging") == []
    imported = {d.creation_data.storage_account_id for d in job_disks(clients, job_id)
                if d.location == "westeurope"}
    assert imported == {made.id}
    assert_clean(fleet, job_id)


# -- consistency and power states ---------------------------------------------------------------


@pytest.mark.parametrize("consistency", ["none", "deallocate"])
def test_a_deallocated_vm_is_read_as_it_is_and_stays_deallocated(fleet: Fleet, fast_copies: AdminClient,
                                                                  clients: Clients, consistency: str) -> None:
    rg = unique_rg(consistency)
    (vm,) = seed_vms(fleet, rg, {"name": "cold", "os_disk": 1, "data_disks": [1]})
    clients.compute.virtual_machines.begin_deallocate(rg, "cold").result()
    before = fast_copies.counters()
    job_id = fleet.submit(vm_job(rg, ["cold"], [{"region": "westeurope", "resource_group": f"we-{rg}"},
                                                {"region": "brazilsouth", "resource_group": f"br-{rg}"},
                                                {"region": "francecentral", "resource_group": f"fc-{rg}"}],
                                 consistency=consistency))
    status = fleet.wait(job_id)
    calls = delta(before, fast_copies.counters())

    assert status.phase is Phase.succeeded, status
    assert "Microsoft.Compute/snapshots/write" not in calls
    assert calls.get("Microsoft.Compute/disks/beginGetAccess/action") == 2  # the disks themselves, once
    # deallocate: the VM already was, so the job neither deallocates it nor starts it afterwards
    assert DEALLOCATE not in calls and START not in calls
    assert power_state(clients, rg, "cold") == "PowerState/deallocated"
    assert {clients.compute.disks.get(rg, d.name).disk_state for d in vm.disks} == {"Reserved"}
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_deallocate_on_a_stopped_vm_leaves_it_deallocated(fleet: Fleet, fast_copies: AdminClient,
                                                          clients: Clients) -> None:
    rg = unique_rg("stopped")
    (vm,) = seed_vms(fleet, rg, {"name": "idle", "os_disk": 1})
    clients.compute.virtual_machines.begin_power_off(rg, "idle").result()
    before = fast_copies.counters()
    job_id = fleet.submit(vm_job(rg, ["idle"], [{"region": "westeurope", "resource_group": f"we-{rg}"}],
                                 consistency="deallocate"))
    status = fleet.wait(job_id)
    calls = delta(before, fast_copies.counters())

    assert status.phase is Phase.succeeded, status
    # its disks are held while it is allocated: deallocated to read them, and not started after
    assert calls.get(DEALLOCATE) == 1
    assert START not in calls
    assert power_state(clients, rg, "idle") == "PowerState/deallocated"
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_consistency_none_on_a_running_vm_fails_each_disk_cleanly(fleet: Fleet, fast_copies: AdminClient,
                                                                  clients: Clients) -> None:
    rg = unique_rg("hot")
    (vm,) = seed_vms(fleet, rg, {"name": "hot", "os_disk": 1, "data_disks": [1]})
    job_id = fleet.submit(vm_job(rg, ["hot"], [{"region": "westeurope", "resource_group": f"we-{rg}"},
                                               {"region": "brazilsouth", "resource_group": f"br-{rg}"}],
                                 consistency="none"))
    status = fleet.wait(job_id)

    assert status.phase is Phase.failed
    assert len(status.disks()) == 4
    for disk in status.disks():
        assert disk.phase is Phase.failed and disk.result_id is None
        assert disk.error is not None and disk.error.code == "Conflict"
        assert f"Access not permitted because disk {disk.name} is currently attached to running VM" in (
            disk.error.message), disk.error
    assert power_state(clients, rg, "hot") == "PowerState/running"
    assert {clients.compute.disks.get(rg, d.name).disk_state for d in vm.disks} == {"Attached"}
    assert job_disks(clients, job_id) == []
    assert_clean(fleet, job_id)


# -- where the disks live ------------------------------------------------------------------------


def test_vm_whose_disks_live_in_another_group(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    """Azure lets a VM attach disks of any group of its region: snapshots go beside the disks."""
    vm_rg, disk_rg = unique_rg("vmrg"), unique_rg("diskrg")
    (donor,) = seed_vms(fleet, disk_rg, {"name": "donor", "os_disk": 1, "data_disks": [1]})
    clients.compute.virtual_machines.begin_delete(disk_rg, "donor").result()  # its disks and NIC stay
    nic = clients.network.network_interfaces.get(disk_rg, "donor-nic")
    clients.resource.resource_groups.create_or_update(vm_rg, {"location": "francecentral"})
    os_disk, data_disk = (clients.compute.disks.get(disk_rg, d.name) for d in donor.disks)
    clients.compute.virtual_machines.begin_create_or_update(vm_rg, "app", VirtualMachine({
        "location": "francecentral",
        "properties": {"hardwareProfile": {"vmSize": "Standard_D2s_v5"}, "storageProfile": {
            "osDisk": {"osType": "Linux", "createOption": "Attach", "managedDisk": {"id": os_disk.id}},
            "dataDisks": [{"lun": 4, "createOption": "Attach", "managedDisk": {"id": data_disk.id}}]},
            "networkProfile": {"networkInterfaces": [{"id": nic.id}]}},
    })).result()
    job_id = fleet.submit(vm_job(vm_rg, ["app"], [{"region": "westeurope", "resource_group": f"we-{vm_rg}"},
                                                  {"region": "francecentral", "resource_group": f"fc-{vm_rg}"}]))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    assert sorted(d.key for d in status.disks()) == ["lun4", "lun4", "os", "os"]
    got = {(d.key, fleet.admin.hash(str(d.result_id))["sha256"]) for d in status.disks()}
    assert got == {("os", donor.disks[0].sha256), ("lun4", donor.disks[1].sha256)}
    assert_clean(fleet, job_id)
    audit = fleet.admin.audit(scope=f"/subscriptions/{clients.subscription_id}/resourceGroups/{disk_rg}/")
    assert [i for i in audit["items"] if i["kind"] in ("grant", "snapshot")] == []


def test_image_built_from_a_running_vms_disks(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    """An image whose sources are managed disks (attached to a running VM): read through
    snapshots of the job's own, never through a grant on the attached disks."""
    rg = unique_rg("imgvm")
    (vm,) = seed_vms(fleet, rg, {"name": "live", "os_disk": 1, "data_disks": [{"size_gb": 1, "lun": 6}]})
    os_id, data_id = (d.id for d in vm.disks)
    clients.compute.images.begin_create_or_update(rg, "fromdisks", Image({
        "location": "francecentral",
        "properties": {"hyperVGeneration": "V2", "storageProfile": {
            "osDisk": {"osType": "Linux", "osState": "Specialized", "managedDisk": {"id": os_id}},
            "dataDisks": [{"lun": 6, "managedDisk": {"id": data_id}}]}},
    })).result()
    before = fast_copies.counters()
    job_id = fleet.submit({"source": {"resource_group": rg, "images": ["fromdisks"]},
                           "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]})
    status = fleet.wait(job_id)
    calls = delta(before, fast_copies.counters())

    assert status.phase is Phase.succeeded, status
    assert "Microsoft.Compute/disks/beginGetAccess/action" not in calls
    assert calls.get("Microsoft.Compute/snapshots/write") == 2
    (target,) = status.targets()
    assert target.image_id
    made = clients.compute.images.get(f"br-{rg}", "fromdisks-brazilsouth")
    assert made.storage_profile.os_disk.os_state == "Specialized"
    assert_image_content(fleet, vm, target.image_id)
    assert power_state(clients, rg, "live") == "PowerState/running"
    assert_clean(fleet, job_id)
