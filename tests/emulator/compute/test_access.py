"""SAS grants on disks and snapshots: beginGetAccess / endGetAccess as the SDK drives them."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from diskferry.emulator.admin_client import AdminClient
from tests.conftest import Clients
from tests.emulator.compute.helpers import RawArm, code_of, copy_of, empty_disk, grant, sas_query


def _expiry(url: str) -> float:
    return datetime.strptime(sas_query(url)["se"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def test_read_grant_then_revoke(clients: Clients, rg: str) -> None:
    disk = empty_disk(clients, rg)
    sas = clients.compute.disks.begin_grant_access(rg, disk.name, {"access": "Read", "durationInSeconds": 3600})
    url = sas.result().access_sas
    query = sas_query(url)
    assert url.startswith("https://127.0.0.1:")
    assert url.split("?")[0].endswith("/abcd")
    assert (query["sp"], query["sr"]) == ("r", "b")
    assert clients.compute.disks.get(rg, disk.name).disk_state == "ActiveSAS"
    # a new grant replaces the old one
    assert grant(clients, rg, disk.name, access="read", seconds=60) != url
    clients.compute.disks.begin_revoke_access(rg, disk.name).result()
    assert clients.compute.disks.get(rg, disk.name).disk_state == "Unattached"
    clients.compute.disks.begin_revoke_access(rg, disk.name).result()  # nothing to revoke is fine


def test_duration_is_honoured_and_capped(clients: Clients, rg: str, admin: AdminClient) -> None:
    disk = empty_disk(clients, rg)
    now = time.time()
    assert abs(_expiry(grant(clients, rg, disk.name, seconds=7200)) - (now + 7200)) < 5
    admin.set(max_sas_seconds=30)
    now = time.time()
    assert abs(_expiry(grant(clients, rg, disk.name, seconds=7200)) - (now + 30)) < 5


def test_the_sas_is_in_the_status_body_and_behind_location(clients: Clients, rg: str, raw: RawArm) -> None:
    disk = empty_disk(clients, rg)
    resp = raw.call(
        "POST",
        f"{raw.rg_path(rg)}/disks/{disk.name}/beginGetAccess?api-version=2024-03-02",
        {"access": "Read", "durationInSeconds": 300},
    )
    assert resp.status_code == 202
    status = raw.call("GET", resp.headers["Azure-AsyncOperation"]).json()
    assert status["status"] == "Succeeded"
    via_status = status["properties"]["output"]["accessSAS"]
    final = raw.call("GET", resp.headers["Location"])
    assert final.status_code == 200
    assert final.json() == {"accessSAS": via_status}


@pytest.mark.parametrize(
    "body",
    [{"durationInSeconds": 60}, {"access": "Read"}, {"access": "Delete", "durationInSeconds": 60},
     {"access": "Read", "durationInSeconds": 0}],
)
def test_grant_needs_access_and_duration(clients: Clients, rg: str, body: dict[str, object]) -> None:
    disk = empty_disk(clients, rg)
    with pytest.raises(HttpResponseError) as err:
        clients.compute.disks.begin_grant_access(rg, disk.name, body)
    assert err.value.status_code == 400


def test_a_disk_with_an_active_sas_cannot_be_deleted(clients: Clients, rg: str) -> None:
    disk = empty_disk(clients, rg)
    clients.compute.disks.begin_grant_access(rg, disk.name, {"access": "Read", "durationInSeconds": 60}).result()
    with pytest.raises(ResourceExistsError) as err:
        clients.compute.disks.begin_delete(rg, disk.name)
    assert code_of(err) == "OperationNotAllowed"
    clients.compute.disks.begin_revoke_access(rg, disk.name).result()
    clients.compute.disks.begin_delete(rg, disk.name).result()


def test_snapshot_grant_and_revoke(clients: Clients, rg: str) -> None:
    snap = copy_of(clients, rg, empty_disk(clients, rg).id, kind="snapshot")
    url = clients.compute.snapshots.begin_grant_access(rg, snap.name, {"access": "Read", "durationInSeconds": 60})
    assert sas_query(url.result().access_sas)["sp"] == "r"
    assert clients.compute.snapshots.get(rg, snap.name).disk_state == "ActiveSAS"
    with pytest.raises(ResourceExistsError):
        clients.compute.snapshots.begin_delete(rg, snap.name)
    clients.compute.snapshots.begin_revoke_access(rg, snap.name).result()
    assert clients.compute.snapshots.get(rg, snap.name).disk_state == "Unattached"
    clients.compute.snapshots.begin_delete(rg, snap.name).result()


def test_lro_fault_on_grant_leaves_the_disk_untouched(clients: Clients, rg: str, admin: AdminClient) -> None:
    disk = empty_disk(clients, rg)
    admin.add_fault("Microsoft.Compute/disks/beginGetAccess/action", kind="lro", code="InternalDiskManagementError")
    with pytest.raises(HttpResponseError) as err:
        clients.compute.disks.begin_grant_access(rg, disk.name, {"access": "Read", "durationInSeconds": 60}).result()
    assert code_of(err) == "InternalDiskManagementError"
    assert clients.compute.disks.get(rg, disk.name).disk_state == "Unattached"
    assert all(e["resource"] != disk.id for e in admin.audit()["items"] if e["kind"] == "grant")


def test_grant_latency(clients: Clients, rg: str, admin: AdminClient) -> None:
    disk = empty_disk(clients, rg)
    admin.set(lro_latency=1.5)
    poller = clients.compute.disks.begin_grant_access(rg, disk.name, {"access": "Read", "durationInSeconds": 60})
    assert clients.compute.disks.get(rg, disk.name).disk_state == "Unattached"  # not yet granted
    assert poller.result().access_sas
    assert clients.compute.disks.get(rg, disk.name).disk_state == "ActiveSAS"
