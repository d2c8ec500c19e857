"""Azure's naming rules for what a job names or makes, checked before any text reaches an ARM URL.

Sources: "Naming rules and restrictions for Azure resources"
(https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules) and the
rule Compute answers with when it refuses a name ("The entity name 'diskName' is invalid according
to its validation rule: ^[^_\\W][\\w-._]{0,79}(?<![-.])$", quoted by hashicorp/packer's Azure
builder and terraform-provider-azurerm). Each ``*_problem`` function returns what is wrong (the
rule, in words) or ``None``: diskferry never rewrites a name to fit, because a naming policy is
often why an operator clones in the first place.
"""

from __future__ import annotations

import re

#: disks, snapshots and images (Compute): 1-80 letters, digits, ``_ . -``; first a letter or
#: digit, last a letter, digit or ``_``. ASCII only: Compute's ``\\w`` is Unicode, but a name of
#: other letters cannot be typed into most of the tools that manage it
COMPUTE_RULE = "1-80 letters, digits, '_', '.' or '-', starting with a letter or digit and not ending with '.' or '-'"
_COMPUTE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")

#: virtual machines: 1-64 characters (Linux), 1-15 (Windows); letters, digits, '-' and '.';
#: not ending with '.' or '-'; Windows VMs no '.' at all
VM_RULE = "1-64 letters, digits, '-' or '.' (Windows: 1-15, no '.'), starting with a letter or digit and " \
    "not ending with '.' or '-'"
_VM = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,63}")

#: resource groups: 1-90 letters, digits, ``_ ( ) . -``, not ending with a period
RESOURCE_GROUP_RULE = "1-90 letters, digits, '_', '(', ')', '.' or '-', not ending with '.'"
_RESOURCE_GROUP = re.compile(r"[A-Za-z0-9_().-]{1,90}")

#: storage accounts: 3-24 lower-case letters and digits, unique across Azure
STORAGE_ACCOUNT_RULE = "3-24 lower-case letters and digits"
_STORAGE_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")

#: subscription ids are GUIDs (ARM answers ``InvalidSubscriptionId`` to anything else)
SUBSCRIPTION_RULE = "a GUID such as 00000000-0000-0000-0000-000000000000"
_GUID = re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}")


#: tag names (docs "Use tags to organize your Azure resources", limitations): up to 512
#: characters, none of ``< > % & \ ? /``
TAG_NAME_RULE = "1-512 characters, none of < > % & \\ ? /"
_TAG_NAME_REFUSED = frozenset("<>%&\\?/")


def _describe(name: str) -> str:
    shown = name if len(name) <= 100 else name[:97] + "..."
    return f"{shown!r} ({len(name)} characters)" if len(name) > 80 else repr(shown)


def compute_name_problem(name: str, what: str = "disk") -> str | None:
    """Why ``name`` cannot name a ``what`` (disk, snapshot, image), or None."""
    if _COMPUTE.fullmatch(name) and not name.endswith((".", "-")):
        return None
    return f"{what} name {_describe(name)} breaks Azure's rule: {COMPUTE_RULE}"


def vm_name_problem(name: str, os_type: str | None) -> str | None:
    """Why ``name`` cannot name a VM of ``os_type`` (Windows, Linux), or None."""
    windows = (os_type or "").lower() == "windows"
    if _VM.fullmatch(name) and not name.endswith((".", "-")) and not (windows and (len(name) > 15 or "." in name)):
        return None
    return f"VM name {_describe(name)} breaks Azure's rule: {VM_RULE}"


def resource_group_problem(name: str) -> str | None:
    if _RESOURCE_GROUP.fullmatch(name) and not name.endswith("."):
        return None
    return f"resource group name {_describe(name)} breaks Azure's rule: {RESOURCE_GROUP_RULE}"


def storage_account_problem(name: str) -> str | None:
    if _STORAGE_ACCOUNT.fullmatch(name):
        return None
    return f"storage account name {_describe(name)} breaks Azure's rule: {STORAGE_ACCOUNT_RULE}"


def tag_name_problem(name: str) -> str | None:
    if 0 < len(name) <= 512 and not _TAG_NAME_REFUSED.intersection(name):
        return None
    return f"tag name {_describe(name)} breaks Azure's rule: {TAG_NAME_RULE}"


def subscription_problem(value: str) -> str | None:
    if _GUID.fullmatch(value):
        return None
    return f"{_describe(value)} is not a subscription id: {SUBSCRIPTION_RULE}"
