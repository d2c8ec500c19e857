"""``diskferry resume``: a job that failed runs again under its id; the disks it made are kept
(the same resources), only what failed is copied and imported again, and the job succeeds."""

from __future__ import annotations

from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_same_content, delta
from tests.fleet.conftest import Fleet
from tests.fleet.test_cli import diskferry
from tests.fleet.test_failures import PERMANENT, submit_with_copy_fault


def test_resume_redoes_only_what_failed(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    vm, job_id = submit_with_copy_fault(fleet, fast_copies, [1], **PERMANENT)
    first = fleet.wait(job_id)
    assert first.phase is Phase.failed, first
    (failed,) = [d for d in first.disks() if d.phase is Phase.failed]
    made = {(d.target, d.key): d.result_id for d in first.disks() if d.phase is Phase.succeeded}
    assert len(made) == 3
    born = {rid: clients.compute.disks.get(rid.split("/")[4], rid.rsplit("/", 1)[1]).time_created
            for rid in made.values() if rid}
    before = fast_copies.counters()

    done = diskferry(fleet, "resume", job_id, "--wait", "--interval", "0.2")
    status = fleet.wait(job_id)
    calls = delta(before, fast_copies.counters())

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"job {job_id} resumed: 1 (source, target) pair(s) run again" in done.stdout
    assert status.phase is Phase.succeeded, status
    # the disks made the first time are the same resources; only the failed disk was redone
    assert {(d.target, d.key): d.result_id for d in status.disks() if (d.target, d.key) in made} == made
    for rid, created in born.items():
        assert clients.compute.disks.get(rid.split("/")[4], rid.rsplit("/", 1)[1]).time_created == created
    assert calls.get("blob.CopyBlob") == 1
    assert calls.get("Microsoft.Compute/disks/write") == 1
    redone = next(d for d in status.disks() if (d.target, d.key) == (failed.target, failed.key))
    assert redone.phase is Phase.succeeded and redone.error is None
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)

    again = diskferry(fleet, "resume", job_id)
    assert again.returncode == 2
    assert "JobNotResumable" in again.stderr + again.stdout
