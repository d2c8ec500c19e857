"""Shapes of jobs beyond the README's: every one replicates byte for byte and leaves nothing.

VMs with only an OS disk or with LUN gaps, images with only an OS disk, with LUN gaps or
Windows, several sources sharing a target, three targets including the source's own
region with a zone, an operator's staging account, every ``consistency`` against VMs in
every power state, names that would collide (refused before anything is made), and a
target resource group that lives in another region than its disks.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from diskferry.errors import JobFailed
from diskferry.model import Phase
from emulator.admin_client import AdminClient
from emulator.seed import Seeded
from producer import api
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_image_content, assert_same_content, delta
from tests.fleet.conftest import Fleet, parse_job, vm_job
from tests.fleet.images import seed_image

DEALLOCATE = "Microsoft.Compute/virtualMachines/deallocate/action"
START = "Microsoft.Compute/virtualMachines/start/action"


def _rg(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _seed_vms(fleet: Fleet, rg: str, *vms: dict[str, Any], location: str = "francecentral") -> list[Seeded]:
    return fleet.seed({"resource_group": rg, "location": location, "data_mib": 1, "vms": list(vms)}).items


def _power(clients: Clients, rg: str, vm: str) -> str:
    view = clients.compute.virtual_machines.get(rg, vm, expand="instanceView")
    return str(next(s.code for s in view.instance_view.statuses if s.code.startswith("PowerState/")))


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


def _job_disks(clients: Clients, job_id: str) -> list[Any]:
    return [d for d in clients.compute.disks.list() if (d.tags or {}).get("diskferry-job") == job_id]


# -- VMs ------------------------------------------------------------------------------------------


def test_vm_with_only_an_os_disk(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = _rg("osonly")
    (vm,) = _seed_vms(fleet, rg, {"name": "solo", "os_disk": 2, "os_type": "Windows", "hyper_v_generation": "V1"})
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
    rg = _rg("luns")
    luns = [0, 3, 7, 15, 31, 63]
    (vm,) = _seed_vms(fleet, rg, {"name": "wide", "os_disk": 1, "data_disks": [{"size_gb": 1, "lun": n} for n in luns]})
    job_id = fleet.submit(vm_job(rg, ["wide"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}],
                                 name="{source}-{key}"))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    assert sorted(d.key for d in status.disks()) == sorted(["os", *(f"lun{n}" for n in luns)])
    names = sorted(d.name for d in _job_disks(clients, job_id))
    assert names == sorted(["wide-os", *(f"wide-lun{n}" for n in luns)])
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_vm_as_an_image_keeps_its_lun_gaps(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = _rg("vmimg")
    _seed_vms(fleet, rg, {"name": "tmpl", "os_disk": 1,
                          "data_disks": [{"size_gb": 1, "lun": 2}, {"size_gb": 1, "lun": 9}]})
    job_id = fleet.submit(vm_job(rg, ["tmpl"], [{"region": "westeurope", "resource_group": f"we-{rg}"}], image=True))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    made = clients.compute.images.get(f"we-{rg}", "tmpl-westeurope")
    assert made.storage_profile.os_disk.os_state == "Specialized"
    assert sorted(d.lun for d in made.storage_profile.data_disks) == [2, 9]
    assert _job_disks(clients, job_id) == []  # the image holds the data
    assert_clean(fleet, job_id)


# -- images ----------------------------------------------------------------------------------------


def test_image_with_only_an_os_disk(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = _rg("imgos")
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
    rg = _rg("imgwin")
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
    rg = _rg("many")
    vms = _seed_vms(fleet, rg, {"name": "web", "os_disk": 1, "data_disks": [1]},
                    {"name": "api", "os_disk": 1, "data_disks": [1, 1]}, {"name": "db", "os_disk": 1})
    job_id = fleet.submit(vm_job(rg, ["web", "api", "db"], [{"region": "westeurope", "resource_group": f"we-{rg}"}]))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    # the default template {source}-{disk}-{region} keeps them apart
    names = sorted(d.name for d in _job_disks(clients, job_id))
    assert names == sorted(f"{vm.name}-{d.name}-westeurope" for vm in vms for d in vm.disks)
    for vm in vms:
        assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_an_image_and_a_vm_of_the_same_name(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = _rg("twin")
    (vm,) = _seed_vms(fleet, rg, {"name": "app", "os_disk": 1, "data_disks": [1]})
    image = seed_image(fleet, rg, "app", 1, [1])
    job_id = fleet.submit({"source": {"resource_group": rg, "vms": ["app"], "images": ["app"]},
                           "targets": [{"region": "westeurope", "resource_group": f"we-{rg}"}]})
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    assert sorted(s.kind for s in status.sources) == ["image", "vm"]
    assert_same_content(fleet, vm, status)  # the VM's disks
    made = clients.compute.images.get(f"we-{rg}", "app-westeurope")
    assert_image_content(fleet, image, str(made.id))  # the image, from the image's disks
    assert sorted(d.name for d in _job_disks(clients, job_id)) == ["app-app-data0-westeurope",
                                                                  "app-app-osdisk-westeurope"]
    assert_clean(fleet, job_id)


def test_an_image_and_a_vm_that_would_make_one_image_are_refused(fleet: Fleet, admin: AdminClient) -> None:
    rg = _rg("twini")
    _seed_vms(fleet, rg, {"name": "app", "os_disk": 1})
    seed_image(fleet, rg, "app", 1, [])
    doc = {"source": {"resource_group": rg, "vms": ["app"], "images": ["app"]},
           "targets": [{"region": "westeurope", "resource_group": f"we-{rg}"}], "options": {"image": True}}
    err = _refused(fleet, admin, doc)
    assert err.code == "DuplicateDestination"
    assert err.message == (f"options.image_name: image we-{rg}/app-westeurope would be made twice, "
                           f"from vm {rg}/app and from image {rg}/app")


def test_colliding_disk_names_are_refused_at_plan_time(fleet: Fleet, admin: AdminClient) -> None:
    rg = _rg("clash")
    _seed_vms(fleet, rg, {"name": "web", "os_disk": 1, "data_disks": [1]}, {"name": "db", "os_disk": 1})
    doc = vm_job(rg, ["web", "db"], [{"region": "westeurope", "resource_group": f"we-{rg}"}], name="{key}-{region}")
    err = _refused(fleet, admin, doc)
    assert err.code == "DuplicateDestination"
    assert err.message == (f"options.name: disk we-{rg}/os-westeurope would be made twice, "
                           f"from vm {rg}/web disk os and from vm {rg}/db disk os")


def test_an_image_name_taken_at_the_target_fails_the_pair_cleanly(fleet: Fleet, fast_copies: AdminClient,
                                                                  clients: Clients) -> None:
    rg = _rg("taken")
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
    assert _job_disks(clients, job_id) == []
    summary = next(j for j in fleet.store.list(1000) if j.id == job_id)
    assert (summary.disks_succeeded, summary.disks_failed) == (2, 2)
    assert_clean(fleet, job_id)
