"""How many ARM reads planning costs (issue 8): they grow with the resource groups a job reads,
not with its VMs, and the listings behind them follow Azure's paging.

Counted by the local Azure's counters, over HTTPS with the unchanged SDKs."""

from __future__ import annotations

import uuid

import pytest

from diskferry.cloud import Cloud
from diskferry.config.settings import Settings
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.errors import JobFailed
from diskferry.producer.jobfile import parse
from diskferry.producer.planner import Plan, make_plan

VMS = 4
#: a staged copy to another region and a clone in the source's; neither group exists yet
TARGETS = [{"region": "westeurope", "resource_group": "reads-we"},
           {"region": "francecentral", "resource_group": "reads-fr"}]


@pytest.fixture(scope="module")
def group(emulator: EmulatorProcess) -> str:
    """``VMS`` VMs in one group, each with an OS disk and one data disk."""
    rg = f"reads-{uuid.uuid4().hex[:6]}"
    seed(emulator.env, SeedSpec.model_validate(
        {"resource_group": rg, "location": "francecentral", "data_mib": 0.1,
         "vms": [{"name": f"vm{i}", "os_disk": 1, "data_disks": [1]} for i in range(VMS)]}))
    return rg


def _plan(emulator: EmulatorProcess, admin: AdminClient, rg: str, vms: int) -> tuple[Plan, dict[str, int]]:
    settings = Settings.from_env(emulator.env)
    spec = parse({"source": {"resource_group": rg, "vms": [f"vm{i}" for i in range(vms)]}, "targets": TARGETS})
    cloud = Cloud(settings.azure)
    admin.reset_counters()
    plan = make_plan(spec, cloud, settings, job_id="0123456789ab")
    reads = {k: v for k, v in admin.counters().items() if k.startswith("Microsoft.Compute/") and k.endswith("/read")}
    return plan, reads


def test_reads_grow_with_groups_not_vms(emulator: EmulatorProcess, admin: AdminClient, group: str) -> None:
    admin.set(page_size=100)
    one, reads_one = _plan(emulator, admin, group, 1)
    two, reads_two = _plan(emulator, admin, group, 2)
    all_, reads_all = _plan(emulator, admin, group, VMS)

    # one VM: its GET; its 2 disks are one group's: one list, as are each target group's 2 copies
    assert reads_one == {"Microsoft.Compute/virtualMachines/read": 1,
                         "Microsoft.Compute/disks/read": 1 + len(TARGETS)}
    # two or more: the VMs' GETs become one list; the disk lists stay as many as the groups
    assert reads_two == reads_all == {"Microsoft.Compute/virtualMachines/read": 1,
                                      "Microsoft.Compute/disks/read": 1 + len(TARGETS)}
    # read from a listing as from GETs: the same disks, the same steps
    assert len(all_.job.sources) == VMS
    first = one.job.sources[0]
    assert all_.job.sources[0].disks == first.disks
    assert [s for s in two.steps if s.source == first.key] == [s for s in one.steps if s.source == first.key]


def test_listings_follow_next_links(emulator: EmulatorProcess, admin: AdminClient, group: str) -> None:
    """A page of one item: every list takes several pages, and the plan is the same as read by
    GETs (what one VM at a time costs)."""
    admin.set(page_size=100)
    paged_once, _ = _plan(emulator, admin, group, VMS)
    try:
        admin.set(page_size=1)
        paged, reads = _plan(emulator, admin, group, VMS)
    finally:
        admin.set(page_size=100)
    # VMS VMs on VMS pages, 2 * VMS disks on 2 * VMS pages; the target groups are empty (one page each)
    assert reads == {"Microsoft.Compute/virtualMachines/read": VMS,
                     "Microsoft.Compute/disks/read": 2 * VMS + len(TARGETS)}
    assert paged.to_json()["steps"] == paged_once.to_json()["steps"]
    assert paged.job.sources == paged_once.job.sources


def test_a_vm_missing_from_a_listing_is_named_in_azures_words(emulator: EmulatorProcess, group: str) -> None:
    """The listing does not know why a VM is absent: the single GET says it, as without a listing."""
    settings = Settings.from_env(emulator.env)
    cloud = Cloud(settings.azure)

    def refusal(vms: list[str]) -> str:
        spec = parse({"source": {"resource_group": group, "vms": vms}, "targets": TARGETS})
        with pytest.raises(JobFailed) as err:
            make_plan(spec, cloud, settings, job_id="0123456789ab")
        assert err.value.code == "ResourceNotFound"
        return err.value.message

    alone = refusal(["nope"])
    assert alone.startswith("source.vms[0] nope: ") and "nope" in alone.split(": ", 1)[1]
    assert refusal(["vm0", "vm1", "nope"]) == alone.replace("vms[0]", "vms[2]")
