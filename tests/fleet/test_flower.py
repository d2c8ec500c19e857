"""Flower, started by the test, lists the job's tasks by name — with ids in their
arguments, parked copies as waiting (not running), and no secret anywhere in what it shows."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import stop_process
from diskferry.model import Phase
from diskferry.producer.localfleet import flower_port
from tests.fleet.conftest import ROOT, Fleet, vm_job
from tests.waiting import wait_until

AUTH = ("ops", "flower-test-password")


def _metrics(url: str) -> str:
    try:
        return requests.get(f"{url}/metrics", timeout=1).text
    except requests.ConnectionError:
        return ""


@pytest.fixture
def flower(fleet: Fleet, tmp_path: Path) -> Iterator[str]:
    log = tmp_path / "flower.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "--app=diskferry.tasks.app:app", "flower", "--address=127.0.0.1",
             "--port=0", f"--basic-auth={AUTH[0]}:{AUTH[1]}", "--read_only"],
            cwd=ROOT, env=fleet.env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        # Flower binds port 0 and logs the port it got
        port = wait_until(lambda: flower_port(log) or proc.poll() is not None, 30,
                          lambda: f"flower did not start:\n{log.read_text()}", interval=0.1)
        assert proc.poll() is None, log.read_text()
        url = f"http://127.0.0.1:{port}"
        # its event consumer subscribes after the web server is up, and events sent before
        # are lost: wait until it has heard every worker (heartbeats come every 2 s)
        hosts = {h for reply in fleet.app.control.ping(timeout=1.0) or [] for h in reply}
        assert len(hosts) == len(fleet.workers.procs), hosts
        wait_until(lambda: all(f'flower_worker_online{{worker="{h}"}} 1.0' in _metrics(url) for h in hosts), 30,
                   lambda: f"flower has not heard the workers {hosts}:\n{log.read_text()}", interval=0.2)
        yield url
    finally:
        stop_process(proc)


def test_flower_lists_the_job_tasks_by_name(fleet: Fleet, fast_copies: AdminClient, flower: str) -> None:
    rg = f"flower-{uuid.uuid4().hex[:6]}"
    fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]})
    # slow copies first: while parked, a copy is shown waiting to be sent again, not running
    fast_copies.set(copy_bandwidth=64 * 1024)
    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]))

    def parked() -> list[dict[str, Any]] | None:
        tasks = requests.get(f"{flower}/api/tasks", auth=AUTH, timeout=5).json()
        copies = [t for t in tasks.values() if t["name"] == "diskferry.copy_disk" and job_id in str(t.get("args"))]
        return copies if len(copies) == 2 and all(t["state"] == "RETRY" for t in copies) else None

    copies = wait_until(parked, 30, lambda: f"flower does not show the copies of {job_id} parked", interval=0.5)
    assert all(str(t["exception"]).startswith("Parked: ") for t in copies), copies
    fast_copies.set(copy_bandwidth=256 * 1024 * 1024)
    assert fleet.wait(job_id).phase is Phase.succeeded

    assert requests.get(f"{flower}/api/tasks", timeout=5).status_code == 401  # not without auth
    wanted = ["diskferry.copy_disk", "diskferry.finalize", "diskferry.forget", "diskferry.prepare",
              "diskferry.watch_copies", "diskferry.watchdog"]

    def shown() -> tuple[dict[str, Any], dict[str, Any]] | None:
        tasks = requests.get(f"{flower}/api/tasks", auth=AUTH, timeout=5).json()
        mine = {k: t for k, t in tasks.items() if job_id in str(t.get("args"))}
        names = sorted({t["name"] for t in mine.values()})
        return (tasks, mine) if names == wanted and all(t["state"] == "SUCCESS" for t in mine.values()) else None

    tasks, mine = wait_until(shown, 15, lambda: f"flower does not show {wanted} succeeded for {job_id}", interval=0.5)
    assert sum(t["name"] == "diskferry.copy_disk" for t in mine.values()) == 2
    text = json.dumps(tasks)
    for secret in ("sig=", "sv=", fleet.env["AZURE_CLIENT_SECRET"], fleet.env["DISKFERRY_VAULT_KEY"]):
        assert secret not in text
