"""The ``diskferry`` CLI as an operator runs it: a real process, with the fleet's settings
in its environment, against real workers and the local Azure. Exit codes and output."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

from diskferry.emulator.admin_client import AdminClient
from tests.fleet.checks import assert_clean, assert_same_content, delta
from tests.fleet.conftest import ROOT, Fleet, vm_job


def diskferry(fleet: Fleet, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "diskferry.producer.cli", *args],
        env=fleet.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _job_file(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _seed_vm(fleet: Fleet, rg: str, data_disks: list[int]) -> Any:
    return fleet.seed(
        {"resource_group": rg, "location": "francecentral", "data_mib": 1,
         "vms": [{"name": "app", "os_disk": 1, "data_disks": data_disks}]}
    ).items[0]


def test_submit_wait_replicates_and_exits_0(fleet: Fleet, fast_copies: AdminClient, tmp_path: Path) -> None:
    rg = f"cli-{uuid.uuid4().hex[:6]}"
    vm = _seed_vm(fleet, rg, [1])
    job = _job_file(tmp_path, vm_job(rg, ["app"], [{"region": "westeurope", "resource_group": f"we-{rg}"}]))

    done = diskferry(fleet, "submit", str(job), "--wait", "--interval", "0.2")

    assert done.returncode == 0, done.stderr + done.stdout
    job_id = done.stdout.split()[1]  # "job <id> submitted"
    assert f"✓ job {job_id}: 2 disk(s) replicated" in done.stdout
    assert "app → westeurope os: succeeded" in done.stdout  # one line per phase change off a TTY
    status = diskferry(fleet, "status", job_id, "--json")
    assert status.returncode == 0
    doc = json.loads(status.stdout)
    assert doc["ok"] is True
    assert doc["cleaned"] is True
    assert {d["phase"] for s in doc["job"]["sources"] for t in s["targets"] for d in t["disks"]} == {"succeeded"}
    listed = json.loads(diskferry(fleet, "list", "--json").stdout)
    assert job_id in [j["id"] for j in listed]
    assert_same_content(fleet, vm, fleet.store.status(job_id))
    assert_clean(fleet, job_id)
    # nothing secret reaches the operator's terminal
    for text in (done.stdout, done.stderr, status.stdout):
        assert "sig=" not in text
        assert fleet.env["AZURE_CLIENT_SECRET"] not in text


def test_a_failed_disk_exits_1_with_azures_reason(fleet: Fleet, fast_copies: AdminClient, tmp_path: Path) -> None:
    rg = f"clif-{uuid.uuid4().hex[:6]}"
    _seed_vm(fleet, rg, [1])
    fast_copies.set(copy_bandwidth=2 * 1024 * 1024)
    # a failure no restart mends (a 5xx one would be restarted)
    fast_copies.add_fault("blob.CopyBlob", kind="copy", at_percent=30, count=1, status=412,
                          code="ConditionNotMet", message="The copy failed (injected).")
    job = _job_file(tmp_path, vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]))

    done = diskferry(fleet, "submit", str(job), "--wait", "--interval", "0.2")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "failed:" in done.stderr
    # whichever disk the fault hit: its own line names Azure's code and message
    line = next(x for x in done.stderr.splitlines() if "app → brazilsouth os:" in x or "app → brazilsouth lun0:" in x)
    assert "ConditionNotMet" in line
    assert "The copy failed (injected)." in line
    job_id = done.stdout.split()[1]
    assert diskferry(fleet, "status", job_id).returncode == 1
    assert_clean(fleet, job_id)


def test_invalid_job_file_exits_2_naming_the_field(fleet: Fleet, admin: AdminClient, tmp_path: Path) -> None:
    job = _job_file(tmp_path, {"source": {"resource_group": "x", "vms": ["a"]},
                               "targets": [{"region": "westeurope", "resource_group": "r", "sku": "Fast_LRS"}]})
    before = admin.counters()
    jobs_before = fleet.store.list(1000)

    for command in ("plan", "submit"):
        done = diskferry(fleet, command, str(job))
        assert done.returncode == 2, done.stderr
        assert "targets[0].sku" in done.stderr
        assert done.stdout == ""
    assert fleet.store.list(1000) == jobs_before
    assert delta(before, admin.counters()) == {}, "nothing may reach Azure"


def test_missing_source_exits_2_and_creates_nothing(fleet: Fleet, admin: AdminClient, tmp_path: Path) -> None:
    rg = f"clim-{uuid.uuid4().hex[:6]}"
    _seed_vm(fleet, rg, [])
    job = _job_file(tmp_path, vm_job(rg, ["app", "ghost"], [{"region": "westeurope", "resource_group": f"we-{rg}"}]))
    audit_before = admin.audit()

    done = diskferry(fleet, "submit", str(job))

    assert done.returncode == 2, done.stderr
    assert "ghost" in done.stderr
    assert admin.audit() == audit_before


def test_plan_prints_steps_and_unknown_job_is_bad_input(fleet: Fleet, admin: AdminClient, tmp_path: Path) -> None:
    rg = f"clip-{uuid.uuid4().hex[:6]}"
    _seed_vm(fleet, rg, [2])
    job = _job_file(tmp_path, vm_job(rg, ["app"], [{"region": "westeurope", "resource_group": f"we-{rg}"}]))
    audit_before = admin.audit()

    planned = diskferry(fleet, "plan", str(job), "--json")

    assert planned.returncode == 0, planned.stderr
    steps = json.loads(planned.stdout)["steps"]
    assert {s["action"] for s in steps} >= {"snapshot", "grant", "copy", "import"}
    assert admin.audit() == audit_before
    unknown = diskferry(fleet, "status", "0000deadbeef")
    assert unknown.returncode == 2
    assert "no job '0000deadbeef'" in unknown.stderr


def test_submit_with_the_broker_down_exits_3_and_records_nothing(fleet: Fleet, admin: AdminClient,
                                                                 tmp_path: Path) -> None:
    rg = f"clib-{uuid.uuid4().hex[:6]}"
    _seed_vm(fleet, rg, [])
    job = _job_file(tmp_path, vm_job(rg, ["app"], [{"region": "westeurope", "resource_group": f"we-{rg}"}]))
    jobs_before = fleet.store.list(1000)
    audit_before = admin.audit()
    # a port held bound but not listening: the broker is down (refused at once), the state Redis up
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
        env = fleet.env | {"DISKFERRY_BROKER_URL": down, "DISKFERRY_RESULT_BACKEND": down}
        done = subprocess.run([sys.executable, "-m", "diskferry.producer.cli", "submit", str(job)], env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stderr.startswith("error: BrokerUnavailable: cannot reach the broker")
    assert "Traceback" not in done.stderr
    assert fleet.store.list(1000) == jobs_before  # no orphan record, pending forever
    assert admin.audit() == audit_before


def test_a_worker_that_cannot_sign_in_to_azure_refuses_to_start(fleet: Fleet) -> None:
    env = fleet.env | {"AZURE_CLIENT_SECRET": "wrong-secret"}

    done = subprocess.run([sys.executable, "-m", "diskferry.producer.cli", "worker"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stderr.startswith("error: AzureSignInFailed: cannot get an Azure token")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "wrong-secret" not in done.stderr
