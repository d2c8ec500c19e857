"""Trusted Launch: which create options take a security type, what copies keep, and a VM that
boots only from an OS disk of its own security type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from tests.conftest import Clients
from tests.emulator.compute.helpers import FOOTER, MIB, code_of, copy_of, empty_body, name, vm_body, vm_nic
from tests.emulator.compute.test_import import import_body, stage_vhd
from tests.emulator.storage.conftest import Account, make_account, storage_rg  # noqa: F401 (fixtures)

TL = {"securityType": "TrustedLaunch"}


@pytest.fixture(scope="module")
def staging(make_account: Callable[[str], Account]) -> Account:  # noqa: F811
    return make_account("francecentral")


def _imported(clients: Clients, rg: str, staging: Account, generation: str = "V2", **props: Any) -> Any:
    body = import_body(staging, stage_vhd(staging).url)
    body["properties"] |= {"hyperVGeneration": generation, **props}  # type: ignore[operator]
    return clients.compute.disks.begin_create_or_update(rg, name("tl"), body).result()


def _refused(call: Callable[[], Any]) -> str:
    with pytest.raises(HttpResponseError) as err:
        call()
    assert err.value.status_code == 400
    assert err.value.error is not None
    return f"{code_of(err)}: {err.value.error.message}"


def test_a_security_type_only_with_the_options_that_make_a_secure_disk(clients: Clients, rg: str,
                                                                       staging: Account) -> None:
    disks = clients.compute.disks
    tl = _imported(clients, rg, staging, securityProfile=TL)
    assert tl.security_profile.security_type == "TrustedLaunch"
    assert _imported(clients, rg, staging).security_profile is None  # a VHD carries none

    copy = {"location": "francecentral", "properties": {
        "creationData": {"createOption": "Copy", "sourceResourceId": tl.id}, "securityProfile": TL}}
    said = _refused(lambda: disks.begin_create_or_update(rg, name("c"), copy).result())
    assert said.startswith("BadRequest: Security Type 'TrustedLaunch' is not supported for CreateOption 'Copy'")
    empty = empty_body() | {"properties": {**empty_body()["properties"], "securityProfile": TL}}
    assert "CreateOption 'Empty'" in _refused(lambda: disks.begin_create_or_update(rg, name("e"), empty).result())
    assert "Generation 2" in _refused(lambda: _imported(clients, rg, staging, generation="V1", securityProfile=TL))
    secure = {"location": "francecentral", "properties": {"hyperVGeneration": "V2", "creationData": {
        "createOption": "UploadPreparedSecure", "uploadSizeBytes": 20 * MIB + FOOTER}}}
    assert "required" in _refused(lambda: disks.begin_create_or_update(rg, name("u"), secure).result())
    secure["properties"]["securityProfile"] = TL  # type: ignore[index]
    uploaded = disks.begin_create_or_update(rg, name("u"), secure).result()
    assert (uploaded.security_profile.security_type, uploaded.disk_state) == ("TrustedLaunch", "ReadyToUpload")

    # copies keep it: a snapshot of the disk, a disk of the snapshot; and it never changes
    snap = copy_of(clients, rg, tl.id, kind="snapshot")
    again = copy_of(clients, rg, snap.id)
    assert snap.security_profile.security_type == again.security_profile.security_type == "TrustedLaunch"
    standard = {"properties": {"securityProfile": {"securityType": "Standard"}}}
    said = _refused(lambda: disks.begin_update(rg, again.name, standard).result())
    assert "Changing property 'securityProfile.securityType' is not allowed" in said


def test_a_vm_boots_only_from_an_os_disk_of_its_security_type(clients: Clients, rg: str, staging: Account) -> None:
    tl = _imported(clients, rg, staging, securityProfile=TL)
    standard = _imported(clients, rg, staging)
    vms = clients.compute.virtual_machines
    secure = {"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}

    def vm(disk_id: str, profile: dict[str, Any] | None) -> Any:
        body = vm_body(disk_id, nic_ids=[vm_nic(clients, rg)])
        if profile is not None:
            body["properties"]["securityProfile"] = profile
        return vms.begin_create_or_update(rg, name("vm"), body).result()

    incompatible = "BadRequest: Security type of VM is not compatible with the security type of attached OS Disk."
    assert _refused(lambda: vm(tl.id, None)) == incompatible
    assert _refused(lambda: vm(standard.id, secure)) == incompatible
    made = vm(tl.id, secure)
    assert made.security_profile.security_type == "TrustedLaunch"
    assert made.security_profile.uefi_settings.v_tpm_enabled is True
    assert vm(standard.id, None).security_profile is None


def test_no_managed_image_of_a_trusted_launch_disk(clients: Clients, rg: str, staging: Account) -> None:
    tl = _imported(clients, rg, staging, securityProfile=TL)
    body = {"location": "francecentral", "properties": {"hyperVGeneration": "V2", "storageProfile": {"osDisk": {
        "osType": "Linux", "osState": "Specialized", "managedDisk": {"id": tl.id}}}}}
    with pytest.raises(HttpResponseError) as err:
        clients.compute.images.begin_create_or_update(rg, name("img"), body).result()
    assert (err.value.status_code, code_of(err)) == (409, "OperationNotAllowed")
    assert "not supported for virtual machine with TrustedLaunch security type" in str(err.value)
    assert not list(clients.compute.images.list_by_resource_group(rg))
