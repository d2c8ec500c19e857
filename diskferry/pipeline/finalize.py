"""The chord body of a (source, target) pair: import what was copied, build the image, clean up.

It runs whatever the copies returned (they report failures instead of raising), reads each
disk's state from the job record, and always ends with :func:`cleanup.cleanup_pair`.
"""

from __future__ import annotations

from diskferry.cloud import ImageDiskInfo
from diskferry.errors import DiskFailed, DiskferryError, JobFailed, NotFound, RetryLater
from diskferry.model import TAG_JOB, Disk, Error, Header, Phase, Role, Source, SourceKind, Target
from diskferry.naming import STAGING_CONTAINER
from diskferry.pipeline import cancel, cleanup, destination, layout, rebuild
from diskferry.pipeline.outcome import PairOutcome, error_of, fail_disk
from diskferry.pipeline.runtime import Runtime
from diskferry.pipeline.waits import awaited, still_running
from diskferry.state import result_id_of


def finalize(rt: Runtime, job_id: str, source_key: str, target_key: str) -> PairOutcome:
    job, source, target = rt.store.pair(job_id, source_key, target_key)
    if cancel.requested(rt, job.id):
        return cancel.cancel_pair(rt, job, source, target, discard=cancel.discarding(rt, job.id))
    outcome: PairOutcome | None = None
    try:
        outcome = _recorded(rt, job, source, target) or _finish(rt, job, source, target)
    except RetryLater:
        raise  # the task runs finalize again later; cleanup waits for that run
    except DiskferryError as exc:
        cleanup.fail_unfinished(rt, job, source, target, error_of(exc))
        outcome = PairOutcome(source.key, target.key, False, exc.code, exc.message)
    finally:
        if outcome is not None:
            cleanup.cleanup_pair(rt, job, source, target)
    return outcome


def _recorded(rt: Runtime, job: Header, source: Source, target: Target) -> PairOutcome | None:
    """The pair's outcome when an earlier run already reached it (only cleanup is left)."""
    state = rt.store.target_state(job.id, source.key, target.key)
    phase = Phase(state.get("phase", "pending"))
    if not phase.terminal:
        return None
    err = state.get("error") or {}
    return PairOutcome(source.key, target.key, phase is Phase.succeeded, err.get("code"), err.get("message"))


def _finish(rt: Runtime, job: Header, source: Source, target: Target) -> PairOutcome:
    if job.builds_image(source) and rt.store.operation(job.id, _image_op(source, target)) is None:
        image = rt.cloud.compute.find_image(layout.image_id(job, source, target))
        if image is not None and image.tags.get(TAG_JOB) == job.id:
            # an earlier run built it and may have deleted the disks it was built from
            return _image_done(rt, job, source, target, image.id, {})
    disks: dict[str, str] = {}  # disk key -> destination disk id
    failed: list[str] = []
    importing: list[str] = []  # operations still running
    if job.staged(source, target):
        # before the imports: the source's revoke and its snapshot's deletion are two operations
        # in a row, the imports one. Started after them, the revoke met the ARM writes budget
        # the imports had just spent, as a job's last copies end together, and came after them
        cleanup.release_early(rt, job, source)
    for disk in source.disks:
        state = rt.store.disk_state(job.id, source.key, target.key, disk.key)
        phase = Phase(state.get("phase", "pending"))
        if phase is Phase.failed:
            failed.append(disk.key)
            continue
        if phase not in (Phase.copied, Phase.importing, Phase.imaging, Phase.succeeded):
            fail_disk(rt.store, job.id, source.key, target.key, disk.key,
                      Error("CopyIncomplete", f"the copy of {disk.name} had not ended when the pair finished"))
            failed.append(disk.key)
            continue
        try:
            made = _materialize(rt, job, source, target, disk, result_id_of(state, target))
        except (DiskFailed, JobFailed, NotFound) as exc:
            fail_disk(rt.store, job.id, source.key, target.key, disk.key, error_of(exc))
            failed.append(disk.key)
            continue
        if made is None:
            importing.append(_import_op(source, target, disk))
        else:
            disks[disk.key] = made
    if importing:
        raise still_running(rt, job.id, importing, f"import the disks of {source.name} in {target.region}")

    if job.builds_image(source):
        return _image(rt, job, source, target, disks, failed)
    for key, disk_id in disks.items():
        rt.store.update_disk(job.id, source.key, target.key, key, phase=Phase.succeeded, result_id=disk_id)
    # the disks are results whatever becomes of the VM made from them
    refused = rebuild.rebuild(rt, job, source, target, disks) if job.rebuilds_vm(source, target) and not failed \
        else None
    return _conclude(rt, job, source, target, failed, refused)


def _import_op(source: Source, target: Target, disk: Disk) -> str:
    return f"import|{source.key}|{target.key}|{disk.key}"


def _image_op(source: Source, target: Target) -> str:
    return f"image|{source.key}|{target.key}"


def _materialize(rt: Runtime, job: Header, source: Source, target: Target, disk: Disk,
                 result_id: str | None) -> str | None:
    """The destination disk: imported from the staged VHD (None while Azure imports it), or
    already made by a same-region Copy."""
    if not job.staged(source, target):
        if not result_id:
            raise DiskFailed("CopyIncomplete", f"the same-region copy of {disk.name} left no disk")
        return result_id
    if result_id:
        # recorded once its import ended: a run that waits for the other disks reads it no more
        return result_id
    dest = layout.destination(job, source, target, disk)
    account = rt.staging_account(target)
    assert account is not None
    blob_url = rt.cloud.storage.blob_url(account, STAGING_CONTAINER, layout.staged_blob(job, source, target, disk))
    compute = rt.cloud.compute
    made = destination.make(rt, job.id, (source.key, target.key, disk.key), Phase.importing, dest.name,
                            _import_op(source, target, disk), lambda: compute.import_disk(
        dest.id, location=target.region, source_uri=blob_url, storage_account_id=account.id,
        sku=target.sku or disk.sku, zone=target.zone, os_type=disk.os_type,
        hyper_v_generation=disk.hyper_v_generation or source.hyper_v_generation,
        tags=layout.tags(job, dest.role), encryption=target.encryption_request(source, disk),
        security_type=disk.security_type,
    ))
    if not made.done:
        return None
    rt.store.update_disk(job.id, source.key, target.key, disk.key, result_id=dest.id)
    return dest.id


def _image(rt: Runtime, job: Header, source: Source, target: Target, disks: dict[str, str],
           failed: list[str]) -> PairOutcome:
    """An image with the source's OS type/state and LUN layout, from the destination disks."""
    image_id = layout.image_id(job, source, target)
    image_name = image_id.rsplit("/", 1)[1]
    if failed:
        # the temporary disks already made go in cleanup (unless kept)
        for key in disks:
            fail_disk(rt.store, job.id, source.key, target.key, key,
                      Error("ImageNotBuilt", f"the image was not built: disks {', '.join(failed)} failed"))
        return _conclude(rt, job, source, target, failed, Error("ImageNotBuilt", f"disks {', '.join(failed)} failed"))
    rt.store.update_target(job.id, source.key, target.key, phase=Phase.imaging, image_name=image_name)
    name = _image_op(source, target)
    existing = rt.cloud.compute.find_image(image_id) if rt.store.operation(job.id, name) is None else None
    if existing is not None and existing.tags.get(TAG_JOB) != job.id:
        raise DiskFailed("ImageAlreadyExists", f"image {image_name} exists and is not this job's")
    if existing is None:
        entries = [
            ImageDiskInfo(d.lun, disks[d.key], None, d.caching, target.sku or d.sku,
                          encryption_set=(e.set_id if (e := target.encryption_of(source, d)) else None))
            for d in source.disks
        ]
        os_disk = next(e for e in entries if e.lun is None)
        os_type = next((d.os_type for d in source.disks if d.lun is None and d.os_type), None) or "Linux"
        os_state = source.os_state or ("Generalized" if source.kind is SourceKind.image else "Specialized")
        compute = rt.cloud.compute
        built = awaited(rt, job.id, name, lambda: compute.create_image(
            image_id, location=target.region, os_type=os_type, os_state=os_state,
            hyper_v_generation=source.hyper_v_generation or _os_generation(source),
            os_disk=os_disk, data_disks=sorted((e for e in entries if e.lun is not None), key=lambda e: e.lun or 0),
            tags=layout.tags(job, Role.result),
        ))
        if not built.done:
            raise still_running(rt, job.id, [name], f"build image {image_name}")
    return _image_done(rt, job, source, target, image_id, disks)


def _image_done(rt: Runtime, job: Header, source: Source, target: Target, image_id: str,
                disks: dict[str, str]) -> PairOutcome:
    """The image exists: the pair succeeded. The disks it was built from are results only when
    kept; otherwise cleanup deletes them (the image holds its own copy of the data), and a
    delete Azure refuses is a leftover to report, not a failed replication."""
    keep = job.options.keep_image_disks
    rt.store.update_target(job.id, source.key, target.key, image_id=image_id,
                           image_name=image_id.rsplit("/", 1)[1])
    for disk in source.disks:
        disk_id = disks.get(disk.key) or layout.destination(job, source, target, disk).id
        rt.store.update_disk(job.id, source.key, target.key, disk.key, phase=Phase.succeeded,
                             result_id=disk_id if keep else None)
    return _conclude(rt, job, source, target, [])


def _os_generation(source: Source) -> str | None:
    return next((d.hyper_v_generation for d in source.disks if d.lun is None), None)


def _conclude(rt: Runtime, job: Header, source: Source, target: Target, failed: list[str],
              error: Error | None = None) -> PairOutcome:
    if failed or error:
        error = error or Error("DisksFailed", f"{len(failed)} of {len(source.disks)} disks failed: {', '.join(failed)}")
        rt.store.update_target(job.id, source.key, target.key, phase=Phase.failed, error=error, held=None)
        return PairOutcome(source.key, target.key, False, error.code, error.message)
    rt.store.update_target(job.id, source.key, target.key, phase=Phase.succeeded, held=None)
    return PairOutcome(source.key, target.key, True)
