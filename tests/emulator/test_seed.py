"""The seeder: the demo seeded twice into two fresh emulators via the SDKs, re-seeding, and a
half-uploaded disk filled again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass

import pytest
from azure.mgmt.compute import models as cm

from diskferry.emulator import seed as seeding
from diskferry.emulator.seed import GIB, MIB, SeedResult, SeedSpec
from diskferry.emulator.seeddata import PAGE
from diskferry.emulator.testing import EmulatorProcess

# ---------------------------------------------------------------------------------------
# the demo, seeded twice in two fresh emulators


@dataclass
class Seeded:
    emulator: EmulatorProcess
    result: SeedResult
    #: SDK clients that trust this emulator's own CA
    azure: seeding.Azure


@pytest.fixture(scope="module")
def demo_twice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Seeded, Seeded]]:
    with ExitStack() as stack:
        seeded = []
        for name in ("one", "two"):
            proc = stack.enter_context(EmulatorProcess(tmp_path_factory.mktemp(f"seed-{name}") / "state"))
            azure = stack.enter_context(closing(seeding.Azure.from_env(proc.env)))
            seeded.append(Seeded(proc, seeding.seed(proc.env, seeding.demo_spec()), azure))
        yield seeded[0], seeded[1]


def _hashes(result: SeedResult) -> dict[tuple[str, int | None], str]:
    return {(item.name, disk.lun): disk.sha256 for item in result.items for disk in item.disks}


def test_demo_vms_disks_and_attachments(demo_twice: tuple[Seeded, Seeded]) -> None:
    one = demo_twice[0]
    spec = seeding.demo_spec().resource_groups[0]
    compute = one.azure.compute
    vms = {vm.name: vm for vm in compute.virtual_machines.list("FranceCentral")}
    assert sorted(vms) == sorted(v.name for v in spec.vms)
    for want in spec.vms:
        vm = compute.virtual_machines.get("FranceCentral", want.name, expand="instanceView")
        assert vm.location == "francecentral"
        statuses = [s.code for s in vm.instance_view.statuses or []]
        assert "PowerState/running" in statuses
        profile = vm.storage_profile
        wanted = [(None, want.os_disk.size_gb)] + [(d.lun, d.size_gb) for d in want.data_disks]
        attached = [(None, profile.os_disk.managed_disk.id)] + [(d.lun, d.managed_disk.id) for d in profile.data_disks]
        assert [lun for lun, _ in attached] == [lun for lun, _ in wanted]
        for (lun, size_gb), (_, disk_id) in zip(wanted, attached, strict=True):
            disk = compute.disks.get("FranceCentral", disk_id.rsplit("/", 1)[-1])
            assert disk.disk_size_gb == size_gb and disk.disk_size_bytes == size_gb * GIB
            assert disk.managed_by.lower() == vm.id.lower()
            assert disk.disk_state == "Attached"
            assert (disk.os_type is not None) == (lun is None)
    # every seeded disk holds data_mib of random data, scattered
    for item in one.result.items:
        for disk in item.disks:
            assert disk.allocated == 2 * MIB


def test_demo_images_layout_and_no_scaffolding_left(demo_twice: tuple[Seeded, Seeded]) -> None:
    one = demo_twice[0]
    spec = seeding.demo_spec().resource_groups[0]
    compute = one.azure.compute
    for want in spec.images:
        image = compute.images.get("FranceCentral", want.name)
        profile = image.storage_profile
        assert profile.os_disk.os_type == want.os_type
        assert sorted(d.lun for d in profile.data_disks) == sorted(d.lun for d in want.data_disks)
        hashed = one.azure.admin.hash(image.id)["disks"]
        layout_ = [(None, want.os_disk.size_gb * GIB), *sorted((d.lun, d.size_gb * GIB) for d in want.data_disks)]
        assert [(d["lun"], d["size"]) for d in hashed] == layout_
    # the source disks that built the images are gone; the demo's images keep their
    # snapshots (one per image disk), which is what an image is replicated from
    snapshots = list(compute.snapshots.list_by_resource_group("FranceCentral"))
    assert len(snapshots) == sum(1 + len(i.data_disks) for i in spec.images)
    for image in spec.images:
        got = compute.images.get("FranceCentral", image.name).storage_profile
        assert got.os_disk.snapshot is not None
        assert all(d.snapshot is not None for d in got.data_disks)
    names = [d.name for d in compute.disks.list_by_resource_group("FranceCentral")]
    assert not [n for n in names if "-src-" in n]
    audit = one.azure.admin.audit()
    assert not [i for i in audit["items"] if i["kind"] == "grant"]


def test_demo_data_is_deterministic(demo_twice: tuple[Seeded, Seeded]) -> None:
    one, two = demo_twice
    first, second = _hashes(one.result), _hashes(two.result)
    assert first == second
    assert len(set(first.values())) == len(first) == 3 + 6 + 2 + 3  # every disk differs


def test_reseeding_keeps_what_exists(demo_twice: tuple[Seeded, Seeded]) -> None:
    one = demo_twice[0]
    before = sorted(d.name for d in one.azure.compute.disks.list_by_resource_group("FranceCentral"))
    again = seeding.seed(one.emulator.env, seeding.demo_spec())
    assert [item.created for item in again.items] == [False] * 5
    assert _hashes(again) == _hashes(one.result)
    assert sorted(d.name for d in one.azure.compute.disks.list_by_resource_group("FranceCentral")) == before


def test_a_half_uploaded_disk_is_filled_again(demo_twice: tuple[Seeded, Seeded]) -> None:
    two = demo_twice[1]
    spec = SeedSpec.model_validate(
        {"resource_group": "Half", "location": "francecentral", "vms": [{"name": "h", "os_disk": 4}]}
    )
    two.azure.resource.resource_groups.create_or_update("Half", {"location": "francecentral"})
    # a seed that died after creating the disk: it waits for its upload
    two.azure.compute.disks.begin_create_or_update(
        "Half",
        "h-osdisk",
        cm.Disk(
            location="francecentral",
            properties=cm.DiskProperties(
                creation_data=cm.CreationData(create_option="Upload", upload_size_bytes=4 * GIB + PAGE)
            ),
        ),
    ).result()
    result = seeding.seed(two.emulator.env, spec)
    (disk,) = result.items[0].disks
    assert disk.allocated == 2 * MIB
    fresh = seeding.seed(demo_twice[0].emulator.env, spec)
    assert fresh.items[0].disks[0].sha256 == disk.sha256
