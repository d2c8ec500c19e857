"""Flower, started by the test, lists the job's tasks by name — with ids in their
arguments and no secret anywhere in what it shows."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from tests.fleet.conftest import ROOT, Fleet, vm_job

AUTH = ("ops", "flower-test-password")


@pytest.fixture
def flower(fleet: Fleet, tmp_path: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "flower.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "--app=diskferry.tasks.app:app", "flower", "--address=127.0.0.1",
             f"--port={port}", f"--basic-auth={AUTH[0]}:{AUTH[1]}", "--read_only"],
            cwd=ROOT, env=fleet.env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/healthcheck", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"flower did not start:\n{log.read_text()}")
            time.sleep(0.2)
        time.sleep(1.0)  # its event consumer subscribes right after the web server is up
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_flower_lists_the_job_tasks_by_name(fleet: Fleet, fast_copies: AdminClient, flower: str) -> None:
    rg = f"flower-{uuid.uuid4().hex[:6]}"
    fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]})
    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]))
    assert fleet.wait(job_id).phase is Phase.succeeded

    assert requests.get(f"{flower}/api/tasks", timeout=5).status_code == 401  # not without auth
    deadline = time.monotonic() + 15
    while True:
        tasks = requests.get(f"{flower}/api/tasks", auth=AUTH, timeout=5).json()
        mine = {k: t for k, t in tasks.items() if job_id in str(t.get("args"))}
        names = sorted({t["name"] for t in mine.values()})
        if names == ["diskferry.copy_disk", "diskferry.finalize", "diskferry.prepare", "diskferry.watchdog"] and all(
            t["state"] == "SUCCESS" for t in mine.values()
        ):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"flower shows {names}: {mine}")
        time.sleep(0.5)
    assert sum(t["name"] == "diskferry.copy_disk" for t in mine.values()) == 2
    shown = json.dumps(tasks)
    for secret in ("sig=", "sv=", fleet.env["AZURE_CLIENT_SECRET"], fleet.env["DISKFERRY_VAULT_KEY"]):
        assert secret not in shown
