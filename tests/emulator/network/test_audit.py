"""The audit (diskferry.emulator.audit) shows a rebuilt VM and its network by their tags."""

from __future__ import annotations

import uuid

from azure.mgmt.network import NetworkManagementClient

from diskferry.emulator.admin_client import AdminClient
from tests.conftest import Clients
from tests.emulator.compute.helpers import empty_disk, name, vm_body
from tests.emulator.network.helpers import new_subnet, nic_body


def test_result_nics_and_vms_are_not_leftovers(
    clients: Clients, network: NetworkManagementClient, admin: AdminClient, rg: str
) -> None:
    job = uuid.uuid4().hex[:12]
    subnet = new_subnet(network, rg)

    def nic(role: str) -> str:
        body = {**nic_body(subnet), "tags": {"diskferry-job": job, "diskferry-role": role}}
        return str(network.network_interfaces.begin_create_or_update(rg, name("nic"), body).result().id)

    kept, temporary = nic("result"), nic("temporary")
    tags = {"diskferry-job": job, "diskferry-role": "result"}
    body = {**vm_body(empty_disk(clients, rg).id, nic_ids=[kept]), "tags": tags}
    vm = clients.compute.virtual_machines.begin_create_or_update(rg, name("vm"), body).result()

    everything = {(i["kind"], i["id"]) for i in admin.audit(tag=f"diskferry-job={job}")["items"]}
    assert everything == {("vm", vm.id), ("nic", kept), ("nic", temporary)}
    assert admin.leftovers(job) == []  # results, like result disks
    left = [i["id"] for i in admin.audit(tag="diskferry-role=temporary")["items"] if i["tags"]["diskferry-job"] == job]
    assert left == [temporary]
