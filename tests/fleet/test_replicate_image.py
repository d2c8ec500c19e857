"""Managed images: rebuilt at the target from their disks, like ``az image copy``."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import ResourceNotFoundError

from diskferry.emulator.admin_client import AdminClient
from diskferry.errors import JobFailed
from diskferry.model import Phase
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_image_content, assert_same_content
from tests.fleet.conftest import Fleet
from tests.fleet.images import seed_image


def test_image_to_one_region(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = f"img-{uuid.uuid4().hex[:6]}"
    image = seed_image(fleet, rg, "golden", 1, [{"size_gb": 1, "lun": 0}, {"size_gb": 2, "lun": 3}],
                       os_type="Windows")
    target_rg = f"we-{rg}"
    job_id = fleet.submit({"source": {"resource_group": rg, "images": ["golden"]},
                           "targets": [{"region": "westeurope", "resource_group": target_rg}]})
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    (target,) = status.targets()
    assert target.image_name == "golden-westeurope"
    made = clients.compute.images.get(target_rg, "golden-westeurope")
    original = clients.compute.images.get(rg, "golden")
    assert made.location == "westeurope"
    assert made.storage_profile.os_disk.os_type == original.storage_profile.os_disk.os_type == "Windows"
    assert made.storage_profile.os_disk.os_state == original.storage_profile.os_disk.os_state
    assert made.hyper_v_generation == original.hyper_v_generation
    assert sorted(d.lun for d in made.storage_profile.data_disks) == [0, 3]
    assert made.tags["diskferry-role"] == "result" and made.tags["diskferry-job"] == job_id
    assert target.image_id is not None
    assert_image_content(fleet, image, target.image_id)
    # the disks it was imported through are gone (the image holds the data)
    for disk in [*made.storage_profile.data_disks, made.storage_profile.os_disk]:
        with pytest.raises(ResourceNotFoundError):
            clients.compute.disks.get(target_rg, disk.managed_disk.id.rsplit("/", 1)[1])
    assert all(d.phase is Phase.succeeded and d.result_id is None for d in status.disks())
    assert_clean(fleet, job_id)


def test_image_disks_kept_on_request(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = f"imgk-{uuid.uuid4().hex[:6]}"
    image = seed_image(fleet, rg, "base", 1, [1])
    job_id = fleet.submit({"source": {"resource_group": rg, "images": ["base"]},
                           "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"}],
                           "options": {"keep_image_disks": True, "image_name": "{source}-copy"}})
    status = fleet.wait(job_id)
    assert status.phase is Phase.succeeded, status
    assert status.targets()[0].image_name == "base-copy"
    assert_same_content(fleet, image, status)  # the kept disks hold the image's bytes
    assert_clean(fleet, job_id)


def test_image_whose_sources_are_gone_is_refused(fleet: Fleet, clients: Clients) -> None:
    rg = f"imgg-{uuid.uuid4().hex[:6]}"
    fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                "images": [{"name": "orphan", "os_disk": 1}]})  # the seed deletes the image's snapshots
    with pytest.raises(JobFailed) as err:
        fleet.submit({"source": {"resource_group": rg, "images": ["orphan"]},
                      "targets": [{"region": "westeurope", "resource_group": f"we-{rg}"}]})
    assert err.value.code == "ImageSourceNotFound"
    assert "source.images[0] orphan" in err.value.message
