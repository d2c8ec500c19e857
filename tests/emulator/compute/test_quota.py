"""A region's disk quota, reached: Compute's 409 ``OperationNotAllowed`` at once, nothing made."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from diskferry.emulator.admin_client import AdminClient
from tests.conftest import Clients
from tests.emulator.compute.helpers import LOCATION, code_of, empty_disk, name


def _usage(clients: Clients) -> int:
    return sum(1 for d in clients.compute.disks.list() if d.location == LOCATION)


def test_a_disk_beyond_the_regions_quota_is_refused_with_azures_code(clients: Clients, rg: str,
                                                                     admin: AdminClient) -> None:
    admin.set(disk_quota={LOCATION: _usage(clients) + 1})
    empty_disk(clients, rg)  # the last one the quota allows
    usage = _usage(clients)
    refused = name("over")
    with pytest.raises(HttpResponseError) as err:
        empty_disk(clients, rg, refused)
    assert err.value.status_code == 409 and code_of(err) == "OperationNotAllowed"
    assert "exceeding approved StandardDiskCount quota" in str(err.value.message)
    assert f"Location: {LOCATION}, Current Limit: {usage}, Current Usage: {usage}, Additional Required: 1" \
        in str(err.value.message)
    with pytest.raises(ResourceNotFoundError):
        clients.compute.disks.get(rg, refused)
    # snapshots and other regions are not counted against it
    assert empty_disk(clients, rg, location="westeurope").provisioning_state == "Succeeded"
    admin.set(disk_quota={})
    assert empty_disk(clients, rg, refused).provisioning_state == "Succeeded"

