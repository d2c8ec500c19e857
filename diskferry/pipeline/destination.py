"""Making a destination disk (an import of its staged VHD, or a same-region ``Copy``): its PUT
is its own guard.

A disk of the destination's name that the job did not make is not read for first (an ARM read
per disk, 14 % of finalize's CPU at 400 disks): it cannot be taken over. Azure refuses to
change an existing disk's ``creationData`` (another createOption or source) or its region, and
changes nothing; the disk fails as ``DiskAlreadyExists``. One this job made (a run killed after
its PUT) takes the PUT as an update that changes nothing, and the operation ends at once.
"""

from __future__ import annotations

from collections.abc import Callable

from diskferry.cloud.operations import Checked, Operation
from diskferry.errors import DiskFailed
from diskferry.model import DiskKey, Phase, SourceKey, TargetKey
from diskferry.pipeline.runtime import Runtime
from diskferry.pipeline.waits import awaited

#: Azure's refusals of a disk's PUT onto one of the same name that was made otherwise: another
#: createOption or source (409 ``PropertyChangeNotAllowed``; also seen as a 400 saying "Changing
#: property 'sourceUri' is not allowed for existing disk"), another region (409
#: ``InvalidResourceLocation``). Either way Azure changed nothing
_TAKEN_CODES = frozenset({"PropertyChangeNotAllowed", "InvalidResourceLocation"})


def name_taken(exc: DiskFailed, name: str) -> DiskFailed:
    """``DiskAlreadyExists`` for a disk's PUT that Azure refused because a disk named ``name``
    exists that this job did not make; ``exc`` itself for any other refusal."""
    if exc.code in _TAKEN_CODES or "is not allowed for existing disk" in exc.message:
        return DiskFailed("DiskAlreadyExists", f"disk {name} exists and is not this job's ({exc.code})")
    return exc


def make(rt: Runtime, job_id: str, ids: tuple[SourceKey, TargetKey, DiskKey], phase: Phase, dest_name: str,
         operation: str, start: Callable[[], Operation | None]) -> Checked:
    """Start (``start``: the disk's PUT) or check the job's operation ``operation`` that makes
    the disk ``dest_name``; the disk is in ``phase`` meanwhile, its result named."""
    if rt.store.operation(job_id, operation) is None:
        rt.store.update_disk(job_id, *ids, phase=phase, result_name=dest_name)
    try:
        return awaited(rt, job_id, operation, start)
    except DiskFailed as exc:
        refused = name_taken(exc, dest_name)
        if refused is not exc:  # the name is another disk's: not a result of this job
            rt.store.update_disk(job_id, *ids, result_name=None)
        raise refused from None
