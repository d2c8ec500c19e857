"""Entra ID goes down mid-job: the workers' tokens expire while its token endpoint answers 503,
so every ARM call of the job's second half (revoking the SAS, importing the disks, cleaning
up) meets "no token". The job waits it out and every disk arrives; meanwhile its status says
what holds it up.

Before, such a failure was an authentication failure (``JobFailed``): each disk whose step
met it failed, after azure-identity had slept 4.8 s in the worker over four asks.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Phase
from diskferry.producer import views
from tests.fleet.checks import assert_clean, assert_same_content
from tests.fleet.conftest import running_fleet, vm_job
from tests.reliability import CaseRecord, record_case
from tests.waiting import wait_until

#: the workers' tokens last this long, so that they need new ones during the outage
TOKEN_SECONDS = 3
#: 1 MiB of data per disk copies in ~4 s: the copies end during the outage
SLOW = 256 * 1024
#: longer than a token, and than what is left of the copies
OUTAGE_SECONDS = 15
TRANSIENT = "AADSTS90033: A transient error has occurred. Please try again."


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_job_waits_out_an_entra_outage(emulator: EmulatorProcess, redis_url: str, admin: AdminClient,
                                         tmp_path: Path, request: pytest.FixtureRequest) -> None:
    admin.set(token_lifetime=TOKEN_SECONDS, copy_bandwidth=SLOW, lro_latency=0.0)
    with running_fleet(emulator, redis_url, tmp_path) as fleet:
        rg = f"entra-{uuid.uuid4().hex[:6]}"
        vm = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                         "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]}).items[0]
        started = time.monotonic()
        job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "westeurope", "resource_group": f"we-{rg}"}]))

        def copying() -> bool:
            disks = fleet.store.status(job_id).disks()
            return bool(disks) and all(d.phase is Phase.copying and d.bytes_copied > 0 for d in disks)

        wait_until(copying, 60, lambda: f"copies did not start: {fleet.store.status(job_id)}", interval=0.05)
        asked = int(admin.counters().get("oauth2.token", 0))
        rule = admin.add_fault("oauth2.token", status=503, code="temporarily_unavailable", message=TRANSIENT,
                               count=-1)["id"]
        # what `diskferry status` says meanwhile: the steps the outage holds up, and why
        seen: set[tuple[str, str]] = set()
        outage_ends = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < outage_ends:
            seen |= {(w.step, w.code) for w in views.held_up(fleet.store.status(job_id))}
            time.sleep(0.5)
        refused = int(admin.counters().get("oauth2.token", 0)) - asked
        admin.remove_fault(rule)
        status = fleet.wait(job_id, timeout=120)
        ended = round(time.monotonic() - started, 1)
        logs = "\n".join(p.read_text() for p in tmp_path.glob("*.log"))
        met = len(re.findall(r"EntraUnavailable", logs))
        outcome = "succeeded" if status.phase is Phase.succeeded else f"{status.phase.value}"
        record_case(CaseRecord(matrix="fault", case="entra-id-503-mid-job", outcome=outcome, recovery_seconds=ended,
                               nodeid=request.node.nodeid,
                               details={"family": "identity", "expected": "succeeded",
                                        "knobs": [f"oauth2.token 503 for {OUTAGE_SECONDS} s",
                                                  f"token_lifetime={TOKEN_SECONDS}"]}))
        assert status.phase is Phase.succeeded, status
        assert [d.phase for d in status.disks()] == [Phase.succeeded] * 2, status
        # the workers did ask during the outage (their tokens had expired), and were sent back
        assert refused > 0 and met > 0, (refused, met)
        assert "EntraUnavailable" in {code for _, code in seen}, seen
        assert views.held_up(status) == [] and all(t.held is None for t in status.targets())
        assert_same_content(fleet, vm, status)
        assert_clean(fleet, job_id)
