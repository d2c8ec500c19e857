"""A mixed job: VMs and an image, to a remote region and to the source's own region."""

from __future__ import annotations

import uuid

from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_image_content, assert_same_content
from tests.fleet.conftest import Fleet
from tests.fleet.images import seed_image


def test_vms_and_an_image_to_two_targets(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = f"mixed-{uuid.uuid4().hex[:6]}"
    seeded = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1, "vms": [
        {"name": "web", "os_disk": 1, "data_disks": [1]},
        {"name": "db", "os_disk": 1, "data_disks": [1, 2, 1]},
    ]})
    image = seed_image(fleet, rg, "golden", 1, [1])
    job_id = fleet.submit({
        "source": {"resource_group": rg, "vms": ["web", "db"], "images": ["golden"]},
        "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"},
                    {"region": "francecentral", "resource_group": f"fc-{rg}"}],
        "options": {"tags": {"team": "blue"}},
    })
    status = fleet.wait(job_id, timeout=90)

    assert status.phase is Phase.succeeded, status
    assert len(status.sources) == 3 and len(status.targets()) == 6
    for vm in seeded.items:
        assert_same_content(fleet, vm, status)
    images = [t for t in status.targets() if t.image_id]
    assert len(images) == 2
    for target in images:
        assert target.image_id is not None
        assert_image_content(fleet, image, target.image_id)
    assert_clean(fleet, job_id)
