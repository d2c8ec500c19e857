"""Small resolved jobs for unit tests (no Azure involved)."""

from __future__ import annotations

from diskferry import naming
from diskferry.model import (
    Disk,
    ExportKind,
    Job,
    Options,
    Source,
    SourceKind,
    StagingAccount,
    Target,
)

SUB = "00000000-0000-0000-0000-000000000001"


def vm_source(name: str = "web-1", data_disks: int = 2, location: str = "francecentral") -> Source:
    rg = "src-rg"
    key = naming.source_key(SourceKind.vm, rg, name)
    prefix = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute"
    disks = [Disk("os", f"{name}-os", f"{prefix}/disks/{name}-os", ExportKind.disk, 32 * 1024**3, "Premium_LRS",
                  os_type="Linux")]
    for lun in range(data_disks):
        disks.append(
            Disk(f"lun{lun}", f"{name}-data{lun}", f"{prefix}/disks/{name}-data{lun}", ExportKind.disk,
                 (lun + 1) * 64 * 1024**3, "Standard_LRS", lun=lun)
        )
    vm_id = f"{prefix}/virtualMachines/{name}"
    return Source(key, SourceKind.vm, SUB, rg, name, location, vm_id, disks)


def target(region: str, rg: str, job_id: str = "0123456789ab", staged: bool = True) -> Target:
    staging = StagingAccount(naming.staging_account(job_id, SUB, region), rg, region, True) if staged else None
    return Target(naming.target_key(region, rg), region, rg, SUB, staging=staging)


def job(sources: list[Source] | None = None, targets: list[Target] | None = None, job_id: str = "0123456789ab") -> Job:
    return Job(
        id=job_id,
        created=1_700_000_000.0,
        sources=sources or [vm_source()],
        targets=targets or [target("brazilsouth", "br-rg", job_id), target("westeurope", "we-rg", job_id)],
        options=Options(tags={"owner": "ops"}),
    )
