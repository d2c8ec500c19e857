"""A fleet whose workers cannot do the work: the job ends, failed, naming why — it does not
stay pending forever. (``diskferry worker`` refuses to start like this; ``celery worker``,
as here, does not check.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Phase
from tests.fleet.checks import assert_clean
from tests.fleet.conftest import Fleet, running_fleet, vm_job


@pytest.fixture(scope="module")
def keyless_fleet(emulator: EmulatorProcess, redis_url: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Fleet]:
    overrides = {"DISKFERRY_VAULT_KEY": ""}  # databases of its own come with running_fleet
    logdir: Path = tmp_path_factory.mktemp("keyless-workers")
    with running_fleet(emulator, redis_url, logdir, overrides, workers=1) as started:
        yield started


def test_workers_without_a_vault_key_fail_the_job_with_that_reason(keyless_fleet: Fleet,
                                                                  fast_copies: AdminClient) -> None:
    fleet = keyless_fleet
    rg = f"keyless-{uuid.uuid4().hex[:6]}"
    fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]})

    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "westeurope", "resource_group": f"we-{rg}"}]))
    status = fleet.wait(job_id, timeout=120)

    assert status.phase is Phase.failed, status
    assert {d.phase for d in status.disks()} == {Phase.failed}
    (source,) = status.sources
    assert source.error is not None and source.error.code == "VaultKeyMissing"
    assert "DISKFERRY_VAULT_KEY" in source.error.message
    assert_clean(fleet, job_id)  # its snapshots and grants were removed all the same
