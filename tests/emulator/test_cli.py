"""``diskferry-emulator hash|audit|seed``: output and exit codes against a running emulator."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from diskferry.emulator import cli, commands
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from tests.conftest import Clients


@pytest.fixture
def env_file(emulator: EmulatorProcess) -> str:
    return str(emulator.state_dir / "azure.env")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_seed_with_flags_then_hash(capsys: pytest.CaptureFixture[str], env_file: str, admin: AdminClient) -> None:
    rg = f"cli-{uuid.uuid4().hex[:6]}"
    argv = ["seed", "--env", env_file, "-g", rg, "--location", "francecentral", "--vm", "box=8,4GiB", "--data-mib", "1"]
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    (vm,) = json.loads(out)["items"]
    assert (vm["kind"], vm["name"], vm["created"]) == ("vm", "box", True)
    assert [(d["lun"], d["size_gb"], d["allocated"]) for d in vm["disks"]] == [(None, 8, 1024**2), (0, 4, 1024**2)]
    assert "box-osdisk" in err  # progress went to stderr, not into the JSON

    # a second seed keeps what exists, and says so in the table
    code, out, _ = run(capsys, *argv, "--quiet")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "DISK", "SIZE", "STATE", "SHA-256"]
    assert lines[1].split() == ["vm", f"{rg}/box", "os", "8", "GiB", "kept", vm["disks"][0]["sha256"]]
    assert lines[2].split() == ["vm", f"{rg}/box", "0", "4", "GiB", "kept", vm["disks"][1]["sha256"]]
    assert lines[3] == "seeded: 1 VM(s), 0 image(s), 2 disk(s)"

    disk_id = vm["disks"][0]["id"]
    code, out, _ = run(capsys, "hash", "--env", env_file, disk_id)
    assert code == 0
    assert [line.rstrip() for line in out.splitlines()] == [
        f"disk {admin.hash(disk_id)['id']}",
        "SIZE   ALLOCATED  SHA-256",
        f"8 GiB  1 MiB      {vm['disks'][0]['sha256']}",
    ]
    code, out, _ = run(capsys, "hash", "--env", env_file, disk_id, "--json")
    assert code == 0 and json.loads(out) == admin.hash(disk_id)


def test_hash_of_nothing_fails_clearly(capsys: pytest.CaptureFixture[str], env_file: str, clients: Clients) -> None:
    missing = f"/subscriptions/{clients.subscription_id}/resourceGroups/x/providers/Microsoft.Compute/disks/none"
    code, out, err = run(capsys, "hash", "--env", env_file, missing)
    assert (code, out) == (1, "")
    assert err.startswith("error: admin GET /hash: 404") and "disks/none" in err


def test_audit_output_and_check(capsys: pytest.CaptureFixture[str], env_file: str, clients: Clients, rg: str) -> None:
    job = uuid.uuid4().hex[:8]
    tag = f"diskferry-job={job}"
    code, out, _ = run(capsys, "audit", "--env", env_file, "--tag", tag, "--check")
    assert code == 0
    assert out == f"audit: nothing left behind tagged {tag}\n"

    account = f"cli{uuid.uuid4().hex[:10]}"
    made = clients.storage.storage_accounts.begin_create(
        rg,
        account,
        {
            "location": "westeurope",
            "sku": {"name": "Standard_LRS"},
            "kind": "StorageV2",
            "tags": {"diskferry-job": job},
        },
    ).result()
    code, out, _ = run(capsys, "audit", "--env", env_file, "--tag", tag)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["KIND", "ID", "DETAIL", "TAGS"]
    assert lines[1].split() == ["storageaccount", made.id, "westeurope", tag]
    assert lines[2] == f"audit: 1 item(s) tagged {tag}: 1 storageaccount"
    code, out, _ = run(capsys, "audit", "--env", env_file, "--tag", tag, "--check", "--json")
    assert code == 3
    assert [i["id"] for i in json.loads(out)["items"]] == [made.id]
    clients.storage.storage_accounts.delete(rg, account)
    assert run(capsys, "audit", "--env", env_file, "--tag", tag, "--check")[0] == 0


def test_bad_seed_spec_exits_2_naming_the_field(
    capsys: pytest.CaptureFixture[str], env_file: str, tmp_path: Path
) -> None:
    spec = tmp_path / "seed.yaml"
    spec.write_text("resource_group: RG\nlocation: francecentral\nvms:\n  - name: v\n    os_disk: 3PB\n")
    code, out, err = run(capsys, "seed", "--env", env_file, "--spec", str(spec))
    assert (code, out) == (2, "")
    assert err.startswith("error: invalid seed spec: resource_groups.0.vms.0.os_disk")
    code, _, err = run(capsys, "seed", "--env", env_file, "--vm", "v=8")
    assert code == 2 and "--resource-group and --location" in err
    code, _, err = run(capsys, "seed", "--env", env_file)
    assert code == 2 and "--spec FILE, --demo" in err


def test_exit_codes_as_a_process(env_file: str, tmp_path: Path) -> None:
    def cmd(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "diskferry.emulator.cli", *argv],
            capture_output=True, text=True, timeout=60, check=False,
        )

    done = cmd("audit", "--env", env_file, "--tag", f"diskferry-job={uuid.uuid4().hex}", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["items"] == []
    done = cmd("hash", "--env", env_file, "not-an-id")
    assert done.returncode == 1 and done.stderr.startswith("error: admin GET /hash: 400")
    done = cmd("audit", "--env", str(tmp_path / "missing.env"))
    assert done.returncode != 0 and "give --env DIR/azure.env" in done.stderr


def test_seed_from_a_spec_file(
    capsys: pytest.CaptureFixture[str], env_file: str, tmp_path: Path, admin: AdminClient
) -> None:
    rg = f"cli-{uuid.uuid4().hex[:6]}"
    spec = tmp_path / "seed.yaml"
    spec.write_text(
        f"seed: 5\ndata_mib: 0.5\nresource_groups:\n  - name: {rg}\n    location: westeurope\n"
        "    images:\n      - name: img\n        os_disk: 2GiB\n        data_disks: [{size_gb: 1, lun: 7}]\n"
    )
    code, out, err = run(capsys, "seed", "--env", env_file, "--spec", str(spec), "--json", "-q")
    assert (code, err) == (0, "")
    (image,) = json.loads(out)["items"]
    assert (image["kind"], image["location"]) == ("image", "westeurope")
    assert [(d["name"], d["lun"], d["size_gb"], d["allocated"]) for d in image["disks"]] == [
        ("img/os", None, 2, 512 * 1024),
        ("img/lun7", 7, 1, 512 * 1024),
    ]
    assert [d["sha256"] for d in image["disks"]] == [d["sha256"] for d in admin.hash(image["id"])["disks"]]


def test_tables_show_cells_literally_and_whole_in_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    long_id = "/subscriptions/" + "x" * 200
    commands.show(commands.table(["KIND", "ID", "TAGS"], [["disk", long_id, "note=[bold]kept[/bold]"]]))
    lines = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert lines == ["KIND  ID" + " " * (len(long_id) - 2) + "  TAGS", f"disk  {long_id}  note=[bold]kept[/bold]"]
