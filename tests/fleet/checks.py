"""Assertions shared by the end-to-end tests: content equality and an empty audit."""

from __future__ import annotations

from typing import Any

from diskferry.emulator.seed import Seeded
from diskferry.model import Phase, SourceKind
from diskferry.naming import source_key
from diskferry.state import JobStatus
from diskferry.vault import Vault
from tests.conftest import Clients
from tests.fleet.conftest import Fleet
from tests.waiting import wait_until


def _lun_of(key: str) -> int | None:
    return None if key == "os" else int(key.removeprefix("lun"))


def assert_same_content(fleet: Fleet, source: Seeded, status: JobStatus) -> None:
    """Every succeeded destination disk of ``source`` holds the bytes of its source disk."""
    want = {d.lun: d.sha256 for d in source.disks}
    checked = 0
    for st in status.sources:
        # by key, not name: two sources of one name may come from two resource groups
        if st.key != source_key(SourceKind(source.kind), source.resource_group, source.name):
            continue
        for target in st.targets:
            for disk in target.disks:
                if disk.phase is not Phase.succeeded or not disk.result_id:
                    continue
                got = fleet.admin.hash(disk.result_id)["sha256"]
                assert got == want[_lun_of(disk.key)], f"{disk.result_id} differs from {source.name}/{disk.key}"
                checked += 1
    assert checked, f"no destination disk of {source.name} to compare"


def assert_image_content(fleet: Fleet, source: Seeded, image_id: str) -> None:
    got = fleet.admin.hash(image_id)
    assert [(d["lun"], d["sha256"]) for d in got["disks"]] == [(d.lun, d.sha256) for d in source.disks]


def assert_clean(fleet: Fleet, job_id: str) -> None:
    """Nothing temporary is left: no grant in the job's resource groups (the job's own, or on
    the source disks themselves), no snapshot, staged blob or account of the job, no vault
    entry. (Other tests share the emulator, so grants are looked for where this job worked.)"""
    assert fleet.leftovers(job_id) == [], fleet.leftovers(job_id)
    job = fleet.store.job(job_id)
    groups = {(s.subscription_id, s.resource_group) for s in job.sources}
    groups |= {(t.subscription_id, t.resource_group) for t in job.targets}
    for sub, rg in sorted(groups):
        audit = fleet.admin.audit(scope=f"/subscriptions/{sub}/resourceGroups/{rg}/")
        grants = [i for i in audit["items"] if i["kind"] == "grant"]
        assert grants == [], grants
    temporary = [i for i in fleet.admin.audit(tag="diskferry-role=temporary")["items"]
                 if i["tags"].get("diskferry-job") == job_id]
    assert temporary == []
    assert Vault(fleet.store._r, fleet.settings.vault_key).names(job_id) == []


def copying(fleet: Fleet, job_id: str, timeout: float = 30) -> None:
    """Until every copy has started and none has ended: the workers hold their polls."""
    def mid_copy() -> bool:
        disks = fleet.store.status(job_id).disks()
        return all(d.phase is Phase.copying and 0 < d.bytes_copied < d.bytes_total for d in disks)

    wait_until(mid_copy, timeout, lambda: f"copies did not get going: {fleet.store.status(job_id)}\n"
               f"{fleet.workers.tail()}", interval=0.1)


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Calls per operation between two counter readings."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def power_state(clients: Clients, rg: str, vm: str) -> str:
    """``PowerState/running``, ``PowerState/deallocated``, ..."""
    view = clients.compute.virtual_machines.get(rg, vm, expand="instanceView")
    return str(next(s.code for s in view.instance_view.statuses if s.code.startswith("PowerState/")))


def job_disks(clients: Clients, job_id: str) -> list[Any]:
    """Managed disks tagged with the job (results, and temporary disks left behind)."""
    return [d for d in clients.compute.disks.list() if (d.tags or {}).get("diskferry-job") == job_id]
