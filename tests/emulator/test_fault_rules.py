"""Fault rules aimed at some resources only, and lifted one by one."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from diskferry.emulator.admin_client import AdminClient
from tests.conftest import Clients
from tests.emulator.compute.helpers import code_of, empty_disk, name

WRITE = "Microsoft.Compute/disks/write"


def test_a_rule_with_a_target_hits_only_the_resources_it_names(clients: Clients, rg: str, admin: AdminClient) -> None:
    hit, spared = name("hit"), name("spared")
    rule = admin.add_fault(WRITE, status=409, code="OperationNotAllowed", count=-1, target=f"*/disks/{hit.upper()}")
    assert empty_disk(clients, rg, spared).provisioning_state == "Succeeded"
    with pytest.raises(HttpResponseError) as err:
        empty_disk(clients, rg, hit)
    assert err.value.status_code == 409 and code_of(err) == "OperationNotAllowed"
    assert [r["id"] for r in admin.faults()] == [rule["id"]]

    assert admin.remove_fault(rule["id"]) is True
    assert admin.faults() == []
    assert admin.remove_fault(rule["id"]) is False
    assert empty_disk(clients, rg, hit).provisioning_state == "Succeeded"
