"""Which key a destination disk is under, and the VMs the planner refuses by security type."""

from __future__ import annotations

import dataclasses

import pytest

from diskferry.cloud.types import VmDisk, VmInfo
from diskferry.errors import JobFailed
from diskferry.model import Encryption
from diskferry.producer.planner import _security
from tests.diskferry.factories import SUB, target, vm_source

CUSTOMER = "EncryptionAtRestWithCustomerKey"
SETS = f"/subscriptions/{SUB}/resourceGroups/{{}}/providers/Microsoft.Compute/diskEncryptionSets/{{}}"
SOURCE_SET = SETS.format("src", "fr-keys")
TARGET_SET = Encryption(SETS.format("we", "we-keys"), CUSTOMER)


def test_a_disks_copy_is_under_the_targets_set_else_its_own_in_its_region_else_platform_keys() -> None:
    source = vm_source(location="francecentral")
    locked = dataclasses.replace(source.disks[0], encryption_set=SOURCE_SET, encryption_type=CUSTOMER)
    plain = source.disks[1]

    named = dataclasses.replace(target("westeurope", "we"), encryption=TARGET_SET)
    assert named.encryption_of(source, locked) == TARGET_SET
    assert named.encryption_of(source, plain) == TARGET_SET  # the target's set is for every disk made there
    assert named.encryption_request(source, plain) == (TARGET_SET.set_id, CUSTOMER)

    same_region = target("francecentral", "clones", staged=False)
    assert same_region.encryption_of(source, locked) == Encryption(SOURCE_SET, CUSTOMER)
    assert same_region.encryption_of(source, plain) is None

    elsewhere = target("westeurope", "we")  # the planner refuses this pair unless platform_keys
    assert elsewhere.encryption_of(source, locked) is None
    other_sub = dataclasses.replace(same_region, subscription_id="00000000-0000-0000-0000-000000000002")
    assert other_sub.encryption_of(source, locked) is None  # nor across subscriptions


@pytest.mark.parametrize(("security", "kept"), [(None, None), ("Standard", None), ("TrustedLaunch", "TrustedLaunch")])
def test_a_vms_security_type_is_kept(security: str | None, kept: str | None) -> None:
    assert _security(_vm(security)) == kept


def test_a_confidential_vm_is_refused() -> None:
    with pytest.raises(JobFailed) as err:
        _security(_vm("ConfidentialVM"))
    assert err.value.code == "ConfidentialVm" and "vTPM" in err.value.message


def _vm(security: str | None) -> VmInfo:
    return VmInfo(f"/subscriptions/{SUB}/resourceGroups/src/providers/Microsoft.Compute/virtualMachines/a", "a",
                  "francecentral", "running", (VmDisk(None, "x", None),), security_type=security)
