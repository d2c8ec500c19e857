"""How many workers are alive, as ``status`` and the live view tell an operator: every worker
notes itself in the state Redis at its heartbeats."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

from diskferry.liveness import Liveness
from diskferry.producer import api
from diskferry.state import JobStore
from tests.fleet.conftest import ROOT, Fleet, vm_job


def test_every_worker_of_the_fleet_is_seen_alive(fleet: Fleet) -> None:
    deadline = time.monotonic() + 15
    while len(alive := api.workers_alive(settings=fleet.settings)) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(alive) == 2 and all(name.startswith("worker") for name in alive), alive


def test_a_job_no_worker_takes_says_so_in_status(fleet: Fleet, tmp_path: Path) -> None:
    rg = f"idle-{uuid.uuid4().hex[:6]}"
    fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                "vms": [{"name": "app", "os_disk": 1, "data_disks": []}]})
    # queues no worker of the fleet serves: the job's tasks wait there
    env = fleet.env | {"DISKFERRY_QUEUE": f"nobody-{rg}", "DISKFERRY_POLL_QUEUE": f"nobody-{rg}.poll"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "diskferry.producer.cli", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120, check=False)

    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(vm_job(rg, ["app"], [{"region": "westeurope", "resource_group": f"we-{rg}"}])))
    submitted = cli("submit", str(job_file))
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    shown = cli("status", job_id)

    assert shown.returncode == 1
    assert f"job {job_id} is still pending; 2 worker(s) alive" in shown.stderr
    JobStore.from_url(fleet.settings.state_url, 60).delete(job_id)


def test_a_worker_not_heard_from_is_not_alive(fleet: Fleet) -> None:
    registry = Liveness(fleet.store._r)  # the state Redis the workers beat into
    registry.seen("gone@host", now=time.time() - 31)
    assert "gone@host" not in registry.alive()
    registry.seen("back@host")
    assert "back@host" in registry.alive()
    fleet.store._r.zrem("diskferry:workers", "gone@host", "back@host")
