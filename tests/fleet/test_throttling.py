"""A job bigger than ARM's budget, end to end: the local Azure throttles as Azure does
(token buckets, 429 + Retry-After), with buckets made small for this test so that the job
cannot fit in them; the workers pace themselves through the shared budget in Redis and
re-enqueue on a 429. Every disk arrives, none fails with a 429, and the emulator's counters
show that throttling did happen."""

from __future__ import annotations

import time

from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from tests.fleet.checks import assert_clean, assert_same_content, delta
from tests.fleet.conftest import Fleet, vm_job
from tests.fleet.sources import seed_vms, unique_rg

#: about a fifth of what the job needs: it must wait for refills, for seconds, to finish
SMALL = {
    "arm_writes_bucket": 8, "arm_writes_refill": 4,
    "arm_reads_bucket": 20, "arm_reads_refill": 10,
    "arm_deletes_bucket": 4, "arm_deletes_refill": 2,
}


def test_a_job_bigger_than_the_arm_budget_succeeds(fleet: Fleet, fast_copies: AdminClient) -> None:
    rg = unique_rg("throttle")
    vms = seed_vms(fleet, rg, *({"name": f"vm{i}", "os_disk": 1} for i in range(6)))
    fast_copies.set(arm_throttling=True, **SMALL)
    before = fast_copies.counters()
    started = time.monotonic()
    targets = [{"region": "westeurope", "resource_group": f"we-{rg}"}]
    job_id = fleet.submit(vm_job(rg, [vm.name for vm in vms], targets))
    status = fleet.wait(job_id, timeout=180)
    wall = time.monotonic() - started
    calls = delta(before, fast_copies.counters())

    assert status.phase is Phase.succeeded, status
    assert len(status.disks()) == 6
    assert all(d.phase is Phase.succeeded and d.error is None for d in status.disks())
    for vm in vms:
        assert_same_content(fleet, vm, status)
    writes = sum(n for op, n in calls.items() if op.endswith(("/write", "/action")))
    throttled = {k: n for k, n in calls.items() if k.startswith("arm.throttled.")}
    print(f"\n6 disks, {writes} ARM writes against a bucket of {SMALL['arm_writes_bucket']} "
          f"(+{SMALL['arm_writes_refill']}/s): {wall:.1f} s, 429s: {throttled}")
    assert writes > 2 * SMALL["arm_writes_bucket"]  # the job did not fit in the bucket
    assert sum(throttled.values()) >= 1  # Azure had to refuse some calls, and none failed a disk
    assert_clean(fleet, job_id)
