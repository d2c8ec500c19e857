"""Names of everything diskferry creates, derived from the job id and the disk.

A task run twice must find what its first run made, so every name is a pure function of
(job id, source, target, disk). Azure's rules shape them: storage accounts 3-24 lower-case
letters and digits, globally unique; disks, snapshots and images 1-80 characters of
letters, digits, ``_ - .``, starting with a letter or digit and not ending with ``.`` or ``-``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string

from diskferry.model import DiskKey, SourceKind, normalize_region

#: the container that receives staged VHDs in a staging account
STAGING_CONTAINER = "diskferry-staging"

_MAX_RESOURCE_NAME = 80
_INVALID = re.compile(r"[^A-Za-z0-9_.-]+")


class NameTemplateError(ValueError):
    """A destination name template uses an unknown placeholder."""


def new_job_id() -> str:
    """12 hex digits: short enough for account names, 48 bits against collisions."""
    return secrets.token_hex(6)


def _digest(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def source_key(kind: SourceKind, resource_group: str, name: str) -> str:
    """``vm/francecentral/master``: ARM names are case-insensitive, keys are not."""
    return f"{kind.value}/{resource_group.lower()}/{name.lower()}"


def target_key(region: str, resource_group: str) -> str:
    return f"{normalize_region(region)}/{resource_group.lower()}"


def disk_key(lun: int | None) -> DiskKey:
    """``os`` for the OS disk, ``lun3`` for the data disk at LUN 3."""
    return "os" if lun is None else f"lun{lun}"


def staging_account(job_id: str, subscription_id: str, region: str) -> str:
    """``df`` + job id + a digest of the subscription and region: 22 lower-case letters and
    digits. Account names are global: targets of one region in two subscriptions each need
    their own account, in their own subscription."""
    return f"df{job_id[:12]}{_digest(job_id, subscription_id.lower(), normalize_region(region))}"


def resource_name(raw: str) -> str:
    """``raw`` made valid for a disk, snapshot or image name (long names keep a digest)."""
    name = _INVALID.sub("-", raw).strip("-.")
    if len(name) > _MAX_RESOURCE_NAME:
        name = name[: _MAX_RESOURCE_NAME - 9].rstrip("-.") + "-" + _digest(raw)
    if not name or not name[0].isalnum():
        name = "d" + name
    return name


def snapshot(job_id: str, source: str, disk: DiskKey) -> str:
    """A temporary snapshot of a source disk (one per source disk, shared by all targets)."""
    return resource_name(f"dfy-{job_id}-{_digest(source)}-{disk}")


def staged_blob(job_id: str, source: str, target: str, disk: DiskKey) -> str:
    """The staged VHD of one (source, target, disk) in the staging container."""
    return f"{job_id}/{_digest(source, target, length=12)}/{disk}.vhd"


def temporary_disk(job_id: str, source: str, target: str, disk: DiskKey) -> str:
    """A disk imported only to build an image from, deleted once the image exists."""
    return resource_name(f"dfy-{job_id}-{_digest(source, target)}-{disk}")


#: ``{rg}`` is the target's resource group, ``{source_rg}`` the source's: two VMs of one name in
#: two groups (``sources:``) need it to keep their disks apart at a shared target
_FIELDS = frozenset({"source", "source_rg", "disk", "key", "lun", "region", "job", "rg"})
_IMAGE_FIELDS = frozenset({"source", "source_rg", "region", "job", "rg"})


def check_template(template: str, *, image: bool = False) -> None:
    """Refuse placeholders that :func:`result_disk` (or :func:`result_image`) would not know."""
    allowed = _IMAGE_FIELDS if image else _FIELDS
    for _, field, spec, conv in string.Formatter().parse(template):
        if field is None:
            continue
        if field not in allowed or spec or conv:
            known = ", ".join("{" + f + "}" for f in sorted(allowed))
            raise NameTemplateError(f"unknown placeholder {{{field}}} (known: {known})")


def result_disk(
    template: str, *, source: str, source_rg: str, disk: str, key: DiskKey, region: str, job_id: str, rg: str
) -> str:
    """The destination disk's name from the job's template (``{source}-{disk}-{region}``), as
    rendered: never rewritten to fit Azure's rules (the planner refuses a name that breaks them,
    ``diskferry.rules``), because an operator's naming policy is why the name is what it is."""
    lun = key[3:] if key.startswith("lun") else "os"
    return template.format(
        source=source, source_rg=source_rg, disk=disk, key=key, lun=lun, region=normalize_region(region),
        job=job_id, rg=rg,
    )


def result_image(template: str, *, source: str, source_rg: str, region: str, job_id: str, rg: str) -> str:
    """The destination image's name from the job's template, as rendered (see :func:`result_disk`)."""
    return template.format(source=source, source_rg=source_rg, region=normalize_region(region), job=job_id, rg=rg)


def result_vm(template: str, *, source: str, source_rg: str, region: str, job_id: str, rg: str) -> str:
    """A rebuilt VM's name from the target's ``vm.name`` template, as rendered (see :func:`result_disk`)."""
    return result_image(template, source=source, source_rg=source_rg, region=region, job_id=job_id, rg=rg)


def vm_nic(vm: str) -> str:
    """The NIC a rebuilt VM is given: named after it, so a re-run finds it."""
    return f"{vm}-nic"


def vm_public_ip(vm: str) -> str:
    return f"{vm}-ip"
