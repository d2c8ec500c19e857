"""Assertions shared by the end-to-end tests: content equality and an empty audit."""

from __future__ import annotations

from diskferry.model import Phase
from diskferry.state import JobStatus
from emulator.seed import Seeded
from tests.fleet.conftest import Fleet


def _lun_of(key: str) -> int | None:
    return None if key == "os" else int(key.removeprefix("lun"))


def assert_same_content(fleet: Fleet, source: Seeded, status: JobStatus) -> None:
    """Every succeeded destination disk of ``source`` holds the bytes of its source disk."""
    want = {d.lun: d.sha256 for d in source.disks}
    checked = 0
    for st in status.sources:
        if st.name != source.name:
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
    """Nothing temporary is left: no grant at all (the job's or on source disks), no snapshot,
    staged blob or account of the job, no vault entry."""
    assert fleet.leftovers(job_id) == []
    audit = fleet.admin.audit()
    assert audit["counts"].get("grant", 0) == 0, [i for i in audit["items"] if i["kind"] == "grant"]
    temporary = [i for i in fleet.admin.audit(tag="diskferry-role=temporary")["items"]
                 if i["tags"].get("diskferry-job") == job_id]
    assert temporary == []
    assert fleet.store.members(job_id, "none") == set()
    from diskferry.vault import Vault

    assert Vault(fleet.store._r, fleet.settings.vault_key).names(job_id) == []


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Calls per operation between two counter readings."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
