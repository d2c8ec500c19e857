"""A copy outlives its source SAS — it expires, or someone revokes it — and still succeeds:
the copy task grants again (once per disk for every target) and restarts, within a budget.

The emulator's ``max_sas_seconds`` caps every grant's lifetime, whatever diskferry asks
for: a 3 s SAS expires under a copy that takes ~4 s (1 MiB of data at 256 KiB/s). Once the
source is prepared (its first grants made) the cap is lifted, so the grant made after the
expiry lasts what diskferry asks and the restarted copy completes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from diskferry.cloud import ResourceId
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import Seeded
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Phase
from diskferry.pipeline import layout
from diskferry.pipeline.runtime import export_field
from diskferry.producer.views import status_table
from diskferry.state import JobStatus
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_same_content, delta
from tests.fleet.conftest import Fleet, running_fleet, vm_job
from tests.waiting import wait_until

#: the emulator's default cap on SAS lifetimes (Azure's 60 days)
NO_CAP = 60 * 24 * 3600
#: 1 MiB of data per disk copies in ~4 s at this rate
SLOW = 256 * 1024
#: how Azure says a SAS no longer opens the source (mid-copy; or when Copy Blob starts)
UNREADABLE = {"AuthenticationFailed", "AuthorizationFailure", "CannotVerifyCopySource"}


@dataclass
class Started:
    vm: Seeded
    job_id: str
    #: the emulator's counters once the VM was seeded, before the job was submitted
    counters: dict[str, int]


def _submit(fleet: Fleet, admin: AdminClient, regions: list[str], **emulator: Any) -> Started:
    """Seed a VM (OS + one data disk, 1 MiB of data each), slow the copies down (and apply
    ``emulator`` settings), and replicate the VM to ``regions``."""
    rg = f"sas-{uuid.uuid4().hex[:6]}"
    vm = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                     "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]}).items[0]
    admin.set(**{"copy_bandwidth": SLOW, **emulator})
    counters = admin.counters()
    targets = [{"region": region, "resource_group": f"{region}-{rg}"} for region in regions]
    return Started(vm, fleet.submit(vm_job(rg, ["app"], targets)), counters)


def _replicated_and_clean(fleet: Fleet, started: Started, status: JobStatus) -> None:
    """Every destination disk that succeeded holds its source's bytes; nothing is left."""
    assert_same_content(fleet, started.vm, status)
    assert_clean(fleet, started.job_id)


def _copy_state(fleet: Fleet, job_id: str, disk_key: str) -> dict[str, Any]:
    """The job record of a disk's copy to the (only) target."""
    job = fleet.store.job(job_id)
    return fleet.store.disk_state(job_id, job.sources[0].key, job.targets[0].key, disk_key)


def _granted_twice(fleet: Fleet, job_id: str, disk_keys: list[str]) -> None:
    """Each of these disks was granted again exactly once (generation 2)."""
    source = fleet.store.job(job_id).sources[0]
    for key in disk_keys:
        export = fleet.store.source_state(job_id, source.key)[export_field(key)]
        assert (export["sas_generation"], export["regrants"]) == (2, 1), export


def _prepared(fleet: Fleet, job_id: str) -> bool:
    job = fleet.store.job(job_id)
    return all(fleet.store.source_state(job_id, s.key).get("prepared") for s in job.sources)


def _grants(calls: dict[str, int]) -> int:
    return sum(n for op, n in calls.items()
               if op.startswith("Microsoft.Compute/") and op.endswith("/beginGetAccess/action"))


def _codes(reasons: list[str]) -> set[str]:
    return {r.split(":", 1)[0] for r in reasons}


def _revoke_snapshot(fleet: Fleet, clients: Clients, job_id: str, disk_key: str) -> None:
    """endGetAccess on the snapshot a disk is read from, as an outsider would."""
    job = fleet.store.job(job_id)
    source = job.sources[0]
    snap = ResourceId.parse(layout.snapshot_id(job, source, source.disk(disk_key)))
    clients.compute.snapshots.begin_revoke_access(snap.resource_group, snap.name).result()


def test_sas_expiring_mid_copy_is_granted_again_and_the_copy_restarted(fleet: Fleet, fast_copies: AdminClient) -> None:
    started = _submit(fleet, fast_copies, ["brazilsouth"], max_sas_seconds=3)
    job_id = started.job_id
    wait_until(lambda: _prepared(fleet, job_id), 30, "not prepared after 30s")
    fast_copies.set(max_sas_seconds=NO_CAP)
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    for disk in status.disks():
        assert disk.restarts >= 1, disk
        assert len(disk.restart_reasons) == disk.restarts
        # expired mid-copy, or (on a slow machine) already when Copy Blob was asked to start
        assert _codes(disk.restart_reasons) <= UNREADABLE, disk
        assert all("sig=" not in r for r in disk.restart_reasons)
    console = Console(record=True, width=250)
    console.print(status_table(status))
    assert "copy restarted" in console.export_text()
    _replicated_and_clean(fleet, started, status)


def test_sas_revoked_mid_copy_by_an_outsider_is_granted_again(fleet: Fleet, fast_copies: AdminClient,
                                                               clients: Clients) -> None:
    started = _submit(fleet, fast_copies, ["westeurope"])
    job_id = started.job_id
    wait_until(lambda: int(_copy_state(fleet, job_id, "os").get("bytes_copied") or 0) > 0, 30,
               "not copying after 30s")
    _revoke_snapshot(fleet, clients, job_id, "os")
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    by_key = {d.key: d for d in status.disks()}
    assert by_key["os"].restarts == 1, by_key["os"]
    assert _codes(by_key["os"].restart_reasons) == {"AuthenticationFailed"}
    assert by_key["lun0"].restarts == 0  # its own snapshot and SAS were left alone
    _granted_twice(fleet, job_id, ["os"])
    _replicated_and_clean(fleet, started, status)


def test_two_targets_of_a_source_share_one_grant_per_disk_after_expiry(fleet: Fleet,
                                                                       fast_copies: AdminClient) -> None:
    # the second target's prepare waits ~2 s for the first's (the source lock): with 5 s SAS
    # and 6 s copies, both targets' copies are running when the SAS expires
    started = _submit(fleet, fast_copies, ["brazilsouth", "westeurope"], max_sas_seconds=5,
                      copy_bandwidth=160 * 1024)
    job_id = started.job_id
    wait_until(lambda: _prepared(fleet, job_id), 30, "not prepared after 30s")
    fast_copies.set(max_sas_seconds=NO_CAP)
    status = fleet.wait(job_id)
    calls = delta(started.counters, fast_copies.counters())

    assert status.phase is Phase.succeeded, status
    # per disk: the grant of prepare, and ONE more after the expiry, whichever target saw it first
    assert _grants(calls) == 2 * len(started.vm.disks), calls
    for key in ("os", "lun0"):
        copies = [d for d in status.disks() if d.key == key]
        assert len(copies) == 2
        # both failed; one granted again, the other found the new generation
        assert [d.restarts for d in copies] == [1, 1], copies
    _granted_twice(fleet, job_id, ["os", "lun0"])
    _replicated_and_clean(fleet, started, status)


def test_a_copy_out_of_restarts_fails_alone_with_azures_reason(fleet: Fleet, fast_copies: AdminClient,
                                                               clients: Clients) -> None:
    started = _submit(fleet, fast_copies, ["brazilsouth"])
    job_id = started.job_id
    # an outsider revokes every SAS the data disk's copy gets, as soon as the copy has it
    revoked: set[int] = set()

    def revoke_new_grants() -> bool:
        """Revoke the copy's current SAS if it is new; True once the copy has ended."""
        state = _copy_state(fleet, job_id, "lun0")
        if Phase(state.get("phase", "pending")).terminal:
            return True
        generation = state.get("sas_generation")
        if state.get("phase") == Phase.copying.value and generation and generation not in revoked:
            _revoke_snapshot(fleet, clients, job_id, "lun0")
            revoked.add(generation)
        return False

    wait_until(revoke_new_grants, 60, "the data disk's copy did not end after 60s")
    status = fleet.wait(job_id)

    budget = fleet.settings.copy_restarts
    by_key = {d.key: d for d in status.disks()}
    failed = by_key["lun0"]
    assert failed.phase is Phase.failed, failed
    assert failed.restarts == budget and len(revoked) == budget + 1
    assert failed.error is not None and failed.result_id is None
    # Azure's code and message: the SAS was revoked (mid-copy, or before Copy Blob started)
    assert failed.error.code in {"AuthenticationFailed", "CannotVerifyCopySource"}, failed.error
    assert failed.error.message and f"after {budget} restarts" in failed.error.message
    assert by_key["os"].phase is Phase.succeeded and by_key["os"].restarts == 0
    pair = status.targets()[0]
    assert pair.phase is Phase.failed and pair.error is not None and pair.error.code == "DisksFailed"
    _replicated_and_clean(fleet, started, status)


@pytest.fixture(scope="module")
def sized_fleet(emulator: EmulatorProcess, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A fleet that sizes SAS lifetimes to these tests' small disks: at an assumed 256 MiB/s a
    1 GiB disk copies in 4 s, and a SAS lives twice that (8 s). Its own Redis databases."""
    overrides = {
        "DISKFERRY_SAS_BANDWIDTH": str(256 * 1024 * 1024),
        "DISKFERRY_SAS_MARGIN": "2",
        "DISKFERRY_SAS_MIN_SECONDS": "1",
    }
    logdir: Path = tmp_path_factory.mktemp("sized-workers")
    with running_fleet(emulator, redis_url, logdir, overrides, workers=1) as started:
        yield started


def test_a_sas_too_short_for_the_copy_is_renewed_before_it_starts(sized_fleet: Fleet, admin: AdminClient) -> None:
    """The staging account takes 5 s to create, so the copies start when 8 s grants have
    ~3 s left, less than the 4 s a copy is expected to take: they are granted again first,
    and no copy has to fail and restart."""
    fleet = sized_fleet
    started = _submit(fleet, admin, ["brazilsouth"], lro_latency=0.0,
                      lro_latency_ops={"Microsoft.Storage/storageAccounts/write": 5.0})
    status = fleet.wait(started.job_id)
    calls = delta(started.counters, admin.counters())

    assert status.phase is Phase.succeeded, status
    assert all(d.restarts == 0 for d in status.disks()), status
    assert _grants(calls) == 2 * len(started.vm.disks), calls
    _granted_twice(fleet, started.job_id, ["os", "lun0"])
    _replicated_and_clean(fleet, started, status)
