"""The walkthrough a plain SDK script can do with nothing but the values of ``azure.env``.

Create empty disks with ``Upload``, fill them through their Write SAS, attach them to a new
VM, deallocate it, grant a read SAS on each disk and read back the same bytes plus a valid
VHD footer, revoke, snapshot, build an image — meeting Azure's documented errors on the way.
No test helper is used on purpose: this is what a user's script would look like.
"""

from __future__ import annotations

import os
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.storage.blob import BlobClient

from diskferry.emulator.admin_client import read_env
from diskferry.emulator.testing import EmulatorProcess
from diskferry.emulator.vhd import make_footer, parse_footer

MIB = 1024**2
FOOTER = 512
LOCATION = "westeurope"


def test_plain_sdk_walkthrough(emulator: EmulatorProcess) -> None:
    env = read_env(emulator.state_dir / "azure.env")
    os.environ["REQUESTS_CA_BUNDLE"] = env["REQUESTS_CA_BUNDLE"]
    credential = ClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
    )
    arm = {"base_url": env["DISKFERRY_ARM_ENDPOINT"], "credential_scopes": ["https://management.azure.com/.default"]}
    resources = ResourceManagementClient(credential, env["AZURE_SUBSCRIPTION_ID"], **arm)
    compute = ComputeManagementClient(credential, env["AZURE_SUBSCRIPTION_ID"], **arm)
    network = NetworkManagementClient(credential, env["AZURE_SUBSCRIPTION_ID"], **arm)
    rg = f"walk-{uuid.uuid4().hex[:6]}"
    resources.resource_groups.create_or_update(rg, {"location": LOCATION})

    # 1. empty disks for upload, filled through their Write SAS
    sizes = {"os": 20 * MIB, "data0": 21 * MIB, "data1": 32 * MIB}
    written: dict[str, list[tuple[int, bytes]]] = {}
    disks = {}
    for disk_name, size in sizes.items():
        body = {
            "location": LOCATION,
            "sku": {"name": "Premium_LRS"},
            "properties": {
                "osType": "Linux" if disk_name == "os" else None,
                "creationData": {"createOption": "Upload", "uploadSizeBytes": size + FOOTER},
            },
        }
        disk = compute.disks.begin_create_or_update(rg, disk_name, body).result()
        assert disk.disk_state == "ReadyToUpload"
        sas = compute.disks.begin_grant_access(rg, disk_name, {"access": "Write", "durationInSeconds": 3600}).result()
        assert compute.disks.get(rg, disk_name).disk_state == "ActiveUpload"
        writer = BlobClient.from_blob_url(sas.access_sas)
        chunks = [(0, os.urandom(2 * MIB)), (size - MIB, os.urandom(MIB))]
        for offset, data in chunks:
            writer.upload_page(data, offset=offset, length=len(data))
        writer.upload_page(make_footer(size), offset=size, length=FOOTER)
        compute.disks.begin_revoke_access(rg, disk_name).result()
        disk = compute.disks.get(rg, disk_name)
        assert (disk.disk_state, disk.disk_size_bytes) == ("Unattached", size)
        written[disk_name] = chunks
        disks[disk_name] = disk

    # 2. a new VM with the OS disk and two data disks, on a NIC (a VM needs one)
    space = {"addressPrefixes": ["10.9.0.0/16"]}
    subnets = [{"name": "default", "properties": {"addressPrefix": "10.9.0.0/24"}}]
    vnet = network.virtual_networks.begin_create_or_update(
        rg, "vnet", {"location": LOCATION, "properties": {"addressSpace": space, "subnets": subnets}}).result()
    config = {"name": "ipconfig1", "properties": {"subnet": {"id": vnet.subnets[0].id}}}
    nic = network.network_interfaces.begin_create_or_update(
        rg, "vm-nic", {"location": LOCATION, "properties": {"ipConfigurations": [config]}}).result()
    vm_body = {
        "location": LOCATION,
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "storageProfile": {
                "osDisk": {"createOption": "Attach", "osType": "Linux", "managedDisk": {"id": disks["os"].id}},
                "dataDisks": [
                    {"lun": 0, "createOption": "Attach", "managedDisk": {"id": disks["data0"].id}},
                    {"lun": 1, "createOption": "Attach", "managedDisk": {"id": disks["data1"].id}},
                ],
            },
            "networkProfile": {"networkInterfaces": [{"id": nic.id}]},
        },
    }
    vm = compute.virtual_machines.begin_create_or_update(rg, "vm", vm_body).result()
    assert all(compute.disks.get(rg, d).managed_by == vm.id for d in sizes)
    assert {compute.disks.get(rg, d).disk_state for d in sizes} == {"Attached"}

    # 3. Azure's rules while the VM runs
    with pytest.raises(ResourceExistsError) as err:
        compute.disks.begin_grant_access(rg, "data0", {"access": "Read", "durationInSeconds": 600})
    assert err.value.status_code == 409
    with pytest.raises(ResourceExistsError) as err:
        compute.disks.begin_delete(rg, "data0")
    assert err.value.error is not None and err.value.error.code == "OperationNotAllowed"

    # 4. deallocate, then read every disk back through a read SAS
    compute.virtual_machines.begin_deallocate(rg, "vm").result()
    view = compute.virtual_machines.get(rg, "vm", expand="instanceView").instance_view
    assert "PowerState/deallocated" in [s.code for s in view.statuses]
    assert {compute.disks.get(rg, d).disk_state for d in sizes} == {"Reserved"}
    urls = {}
    for disk_name, size in sizes.items():
        sas = compute.disks.begin_grant_access(rg, disk_name, {"access": "Read", "durationInSeconds": 3600}).result()
        urls[disk_name] = sas.access_sas
        reader = BlobClient.from_blob_url(sas.access_sas)
        props = reader.get_blob_properties()
        assert (props.blob_type, props.size) == ("PageBlob", size + FOOTER)
        for offset, data in written[disk_name]:
            assert reader.download_blob(offset=offset, length=len(data)).readall() == data
        footer = parse_footer(reader.download_blob(offset=size, length=FOOTER).readall())
        assert (footer.cookie, footer.checksum_ok, footer.current_size) == (b"conectix", True, size)
    assert {compute.disks.get(rg, d).disk_state for d in sizes} == {"ActiveSAS"}
    with pytest.raises(ResourceExistsError):
        compute.virtual_machines.begin_start(rg, "vm")  # a disk with an active SAS cannot be used

    # 5. revoke: the SAS URLs stop working
    for disk_name in sizes:
        compute.disks.begin_revoke_access(rg, disk_name).result()
        with pytest.raises(HttpResponseError) as err:
            BlobClient.from_blob_url(urls[disk_name]).get_blob_properties()
        assert err.value.status_code == 403
    assert {compute.disks.get(rg, d).disk_state for d in sizes} == {"Reserved"}

    # 6. snapshots, and an image built from them
    snaps = {}
    for disk_name in sizes:
        body = {
            "location": LOCATION,
            "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": disks[disk_name].id}},
        }
        snaps[disk_name] = compute.snapshots.begin_create_or_update(rg, f"{disk_name}-snap", body).result()
    image_body = {
        "location": LOCATION,
        "properties": {
            "storageProfile": {
                "osDisk": {"osType": "Linux", "osState": "Specialized", "snapshot": {"id": snaps["os"].id}},
                "dataDisks": [
                    {"lun": 0, "snapshot": {"id": snaps["data0"].id}},
                    {"lun": 1, "snapshot": {"id": snaps["data1"].id}},
                ],
            },
        },
    }
    image = compute.images.begin_create_or_update(rg, "image", image_body).result()
    assert image.provisioning_state == "Succeeded"
    assert [d.lun for d in image.storage_profile.data_disks] == [0, 1]

    # 7. the VM goes, its disks stay (detached)
    compute.virtual_machines.begin_delete(rg, "vm").result()
    assert {compute.disks.get(rg, d).disk_state for d in sizes} == {"Unattached"}
    resources.resource_groups.begin_delete(rg).result()
