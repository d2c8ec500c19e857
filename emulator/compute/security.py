"""Trusted Launch: the security type of an OS disk and of the VM that boots from it.

Azure's rules kept, each from a public trace:

- a disk's ``securityProfile.securityType`` is given only with the create options that make a
  secure disk; any other is ``BadRequest`` "Security Type 'TrustedLaunch' is not supported for
  CreateOption 'Copy'. Supported create options are FromImage, Import, ImportSecure,
  UploadPreparedSecure." (Azure/azure-cli#22561);
- a disk or snapshot copied from a Trusted Launch disk is a Trusted Launch disk: "You can't
  enable or disable trusted launch on existing virtual machines ..., not even while creating
  new virtual machine from snapshot of existing virtual machine's OS disk"
  (MicrosoftDocs/azure-docs#112364; a disk made from such a snapshot shows
  ``Security Type: Trusted launch``, Azure/azure-sdk-for-python#30479);
- a VHD carries no security type: a disk imported from it is a Standard disk unless the
  request says TrustedLaunch (Azure/azure-powershell#24253);
- a VM's security type must be its OS disk's, else ``BadRequest`` "Security type of VM is not
  compatible with the security type of attached OS Disk." (the same two issues);
- Trusted Launch is for Generation 2 (``hyperVGeneration: V2``) only (Microsoft's "Trusted
  launch for Azure virtual machines"; the message here is the emulator's).

The VM guest state (the vTPM's and UEFI's state beside the OS disk) is not modelled: a Trusted
Launch disk made here starts with a fresh one, as an ``Import`` does in Azure.
"""

from __future__ import annotations

from diskferry.emulator.compute.common import Doc, invalid
from diskferry.emulator.errors import AzureError, bad_request

TRUSTED_LAUNCH = "TrustedLaunch"
#: the create options that take a security type, as Azure lists them
SECURE_OPTIONS = ("FromImage", "Import", "ImportSecure", "UploadPreparedSecure")
#: the security types a disk may have, by lower case (the confidential VM types are not modelled)
DISK_TYPES = {t.lower(): t for t in (TRUSTED_LAUNCH,)}


def disk_profile(option: str, props: Doc, source: Doc | None, generation: str | None) -> Doc | None:
    """The ``securityProfile`` a new disk or snapshot holds: the request's, after Azure's checks,
    or its copy source's; None for a Standard disk."""
    given = (props.get("securityProfile") or {}).get("securityType")
    if not given:
        if option == "UploadPreparedSecure":
            raise bad_request("securityProfile.securityType is required for CreateOption 'UploadPreparedSecure'.")
        inherited = ((source or {}).get("properties") or {}).get("securityProfile")
        return dict(inherited) if inherited else None
    kind = DISK_TYPES.get(str(given).lower())
    if kind is None:
        raise invalid("securityProfile.securityType",
                      f"The value '{given}' of parameter 'securityProfile.securityType' is not supported.")
    if option not in SECURE_OPTIONS:
        raise bad_request(f"Security Type '{kind}' is not supported for CreateOption '{option}'. Supported create "
                          f"options are {', '.join(SECURE_OPTIONS)}.")
    if generation != "V2":
        raise bad_request(f"Security Type '{kind}' requires a Generation 2 disk (hyperVGeneration V2).")
    return {"securityType": kind}


def security_type(doc: Doc) -> str:
    """A VM's or disk's security type; ``Standard`` when it has none."""
    return str(((doc.get("properties") or {}).get("securityProfile") or {}).get("securityType") or "Standard")


def check_image_source(disk: Doc) -> None:
    """Azure makes no managed image of a Trusted Launch VM (hashicorp/packer#13189, capturing the
    VM; modelled the same for an image built from its disks)."""
    kind = security_type(disk)
    if kind != "Standard":
        raise AzureError(409, "OperationNotAllowed",
                         f"Creation of managed images are not supported for virtual machine with {kind} security type.")


def check_vm(vm_props: Doc, os_disk: Doc) -> None:
    """A VM boots only from an OS disk of its own security type."""
    vm_type = str((vm_props.get("securityProfile") or {}).get("securityType") or "Standard")
    if vm_type.lower() != security_type(os_disk).lower():
        raise bad_request("Security type of VM is not compatible with the security type of attached OS Disk.")
