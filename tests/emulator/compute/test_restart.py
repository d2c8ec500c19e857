"""Compute state lives in the state dir: disks, grants, VMs, images and pending operations survive a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from diskferry.emulator.context import Emulator
from diskferry.emulator.testing import EmulatorProcess
from tests.conftest import clients_for
from tests.emulator.compute.helpers import LOCATION, copy_of, empty_body, empty_disk, grant, new_vm
from tests.waiting import wait_until


def test_compute_resources_and_pending_operations_survive_a_restart(
    tmp_path: Path, spawn_emulator: Callable[[Path], EmulatorProcess]
) -> None:
    state = tmp_path / "state"
    with spawn_emulator(state) as first:
        c = clients_for(first)
        c.resource.resource_groups.create_or_update("keep", {"location": LOCATION})
        os_disk = empty_disk(c, "keep", "os", gb=2, osType="Linux")
        data = empty_disk(c, "keep", "data", gb=1)
        vm = new_vm(c, "keep", os_disk.id, [data.id], vm="vm")
        c.compute.virtual_machines.begin_deallocate("keep", "vm").result()
        url = grant(c, "keep", "data")
        snap = copy_of(c, "keep", os_disk.id, kind="snapshot")
        hashes = {rid: first.admin().hash(rid)["sha256"] for rid in (os_disk.id, data.id, snap.id)}
        first.admin().set(lro_latency=2)
        c.compute.disks.begin_create_or_update("keep", "late", empty_body())  # left in progress
    with spawn_emulator(state) as second:
        c = clients_for(second)
        admin = second.admin()
        got_vm = c.compute.virtual_machines.get("keep", "vm", expand="instanceView")
        assert got_vm.vm_id == vm.vm_id
        assert [s.code for s in got_vm.instance_view.statuses][-1] == "PowerState/deallocated"
        assert c.compute.disks.get("keep", "os").disk_state == "Reserved"
        assert c.compute.disks.get("keep", "data").disk_state == "ActiveSAS"
        assert c.compute.disks.get("keep", "os").unique_id == os_disk.unique_id
        assert {rid: admin.hash(rid)["sha256"] for rid in hashes} == hashes
        assert url.split("/")[3] in [g["id"] for g in admin.audit()["items"] if g["kind"] == "grant"]
        wait_until(lambda: any(d.name == "late" and d.provisioning_state == "Succeeded"
                               for d in c.compute.disks.list_by_resource_group("keep")), 10,
                   "the disk create left in progress did not finish after the restart", interval=0.2)
        c.compute.disks.begin_revoke_access("keep", "data").result()
        assert c.compute.disks.get("keep", "data").disk_state == "Reserved"


def test_a_create_killed_before_its_operation_began_is_rolled_back(
    tmp_path: Path, spawn_emulator: Callable[[Path], EmulatorProcess]
) -> None:
    """Killed while writing a new disk's content (saved, no content, no operation yet), the
    emulator would have kept a disk ``Updating`` forever; it rolls the create back instead."""
    state = tmp_path / "state"
    with spawn_emulator(state) as first:
        c = clients_for(first)
        c.resource.resource_groups.create_or_update("half", {"location": LOCATION})
        disk = empty_disk(c, "half", "cut", gb=1)
        kept = empty_disk(c, "half", "whole", gb=1)
    emu = Emulator.open(state.resolve())  # as the killed create left it
    doc = emu.store.get("disk", disk.id)
    assert doc is not None
    doc["properties"]["provisioningState"] = "Updating"
    doc["x"].pop("data")
    emu.store.put("disk", doc["id"], doc)
    emu.store.close()
    with spawn_emulator(state) as second:
        c = clients_for(second)
        assert {d.name for d in c.compute.disks.list_by_resource_group("half")} == {kept.name}
        again = empty_disk(c, "half", "cut", gb=1)  # the name is free again, and the disk whole
        assert again.provisioning_state == "Succeeded"
        assert second.admin().hash(again.id)["sha256"]
