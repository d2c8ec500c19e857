"""Two jobs on one source: one that deallocates (or grants on the source disks) holds it
alone; a second such job is refused at submit, naming the first, with nothing created, and
is accepted once the first has cleaned up. Snapshot jobs share a source."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from diskferry.emulator.admin_client import AdminClient
from diskferry.errors import JobFailed
from diskferry.model import Phase
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, power_state
from tests.fleet.conftest import Fleet, vm_job
from tests.fleet.test_cli import _job_file, diskferry


def test_a_second_deallocating_job_is_refused_while_the_first_runs(fleet: Fleet, fast_copies: AdminClient,
                                                                   clients: Clients, tmp_path: Path) -> None:
    rg = f"claim-{uuid.uuid4().hex[:6]}"
    fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                "vms": [{"name": "web", "os_disk": 1, "data_disks": [1]}]})
    # the first job's copies crawl until every refusal below was seen (the CLI's own start
    # takes seconds on a loaded machine), then go at full speed: bandwidth applies mid-copy
    fast_copies.set(copy_bandwidth=16 * 1024)
    first = fleet.submit(vm_job(rg, ["web"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}],
                                consistency="deallocate"))
    known = {j.id for j in fleet.store.list(1000)}
    for consistency in ("deallocate", "none"):
        with pytest.raises(JobFailed) as err:
            fleet.submit(vm_job(rg, ["web"], [{"region": "westeurope", "resource_group": f"we-{rg}"}],
                                consistency=consistency))
        assert err.value.code == "SourceInUse"
        assert first in err.value.message
    # the CLI: exit 2 (nothing created), naming the holder
    refused = diskferry(fleet, "submit", str(_job_file(tmp_path, vm_job(
        rg, ["web"], [{"region": "westeurope", "resource_group": f"we-{rg}"}], consistency="deallocate"))))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"SourceInUse: vm {rg}/web" in refused.stderr and first in refused.stderr
    assert {j.id for j in fleet.store.list(1000)} == known  # the refused jobs left no record
    # a snapshot job does not touch the disks' SAS: it runs beside the first
    beside = fleet.submit(vm_job(rg, ["web"], [{"region": "westeurope", "resource_group": f"we-{rg}"}],
                                 consistency="snapshot"))
    assert not fleet.store.status(first).phase.terminal  # it held the source all along
    fast_copies.set(copy_bandwidth=256 * 1024 * 1024)
    done = fleet.wait(first)
    assert done.phase is Phase.succeeded, done
    assert fleet.wait(beside).phase is Phase.succeeded

    second = fleet.submit(vm_job(rg, ["web"], [{"region": "westeurope", "resource_group": f"we2-{rg}"}],
                                 consistency="deallocate"))
    status = fleet.wait(second)
    assert status.phase is Phase.succeeded, status
    assert power_state(clients, rg, "web") == "PowerState/running"
    for job_id in (first, beside, second):
        assert_clean(fleet, job_id)
