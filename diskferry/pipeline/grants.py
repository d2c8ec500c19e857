"""The read SAS of a source disk: granted once, shared by every target, granted again in turn.

``prepare`` grants the first SAS (generation 1); every staged target's copy of the disk
reads it from the vault. A new ``beginGetAccess`` on a disk replaces its previous SAS
(Azure revokes the old one), so granting again for one target would break the copies of
all the others. Hence one rule: **whoever needs a fresh SAS takes the disk's grant lock
and grants only if the vault does not already hold a usable newer generation**:

* a copy whose source could not be read asks for a generation newer than the one it used —
  if another target already granted again, that is the answer, and nothing is granted;
* before a copy starts it also asks that the SAS last the copy: a SAS that expires before
  the copy's expected end is renewed ahead, when a fresh grant would last it and no other
  target's copy running on the current SAS would be cut off by the renewal.

A fresh grant is sized (``SasPolicy``) to the bytes still to copy: a restarted Copy Blob
reads the source again from byte 0, so that is the whole VHD. It is stored only in the
vault, whose TTL follows the SAS's own expiry (its ``se``, when Azure grants less than
was asked).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from diskferry.cloud.compute import access_sas
from diskferry.errors import Busy
from diskferry.model import TAG_GRANT, TAG_JOB, Disk, Header, Phase, Source, Target
from diskferry.pipeline.runtime import Runtime, export_field, sas_name
from diskferry.pipeline.waits import awaited, still_running
from diskferry.vault import VaultEntry

#: a worker holding a disk's grant lock longer than this is presumed dead
GRANT_LOCK_SECONDS = 5 * 60
#: the bytes a read SAS of a disk exposes: the disk and the fixed-VHD footer
FOOTER = 512


def sas_expiry(url: str) -> float | None:
    """The expiry (``se``, epoch seconds) written in a SAS URL, if it has a readable one."""
    values = parse_qs(urlsplit(url).query).get("se")
    if not values:
        return None
    try:
        when = datetime.fromisoformat(values[0].replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def grant_op(source: Source, disk: Disk) -> str:
    """The name of a disk's grant operation while Azure grants it."""
    return f"grant|{source.key}|{disk.key}"


def revoke_op(source: Source, disk: Disk) -> str:
    """The name of a disk's revoke operation while Azure revokes it."""
    return f"revoke|{source.key}|{disk.key}"


def grant(rt: Runtime, job: Header, source: Source, disk: Disk, export_id: str, *, ours: bool = False
          ) -> VaultEntry | None:
    """Grant read access to ``export_id`` for a copy of ``disk`` and keep the SAS in the vault
    as its next generation (the caller holds the source's or the disk's lock); None while
    Azure is still granting (or tagging the source for gc: the caller comes back). ``ours``:
    ``export_id`` is the job's own snapshot, made with the job's tag (``gc`` finds it by
    that): it is not read again to be marked."""
    if not ours and not mark_grant(rt, job, export_id):
        return None
    nbytes = disk.size_bytes + FOOTER
    seconds = rt.settings.sas.lifetime(nbytes)
    compute = rt.cloud.compute
    checked = awaited(rt, job.id, grant_op(source, disk), lambda: compute.grant_read(export_id, seconds),
                      result=True)
    if not checked.done:
        return None
    sas = access_sas(checked.body, f"grant read access to {disk.name}")
    granted = time.time()
    # never keep it past its real expiry: Azure may grant less than was asked
    expires = min(granted + seconds, sas_expiry(sas) or math.inf)
    return rt.vault.put(job.id, sas_name(source.key, disk.key), sas, expires, granted_at=granted)


def mark_grant(rt: Runtime, job: Header, export_id: str) -> bool:
    """Tag a source disk or snapshot that is not the job's own with ``TAG_GRANT`` before granting
    on it: should the job and its Redis be lost, ``diskferry gc`` finds the SAS by the tag.
    Whether it is tagged (False while Azure updates it)."""
    return _retag(rt, job.id, export_id, lambda tags: None if tags.get(TAG_JOB) == job.id or
                  tags.get(TAG_GRANT) == job.id else tags | {TAG_GRANT: job.id})


def unmark_grant(rt: Runtime, job_id: str, export_id: str) -> bool:
    """Remove the job's ``TAG_GRANT`` once its SAS is revoked (another job's mark stays).
    Whether it is removed (False while Azure updates it)."""
    return _retag(rt, job_id, export_id, lambda tags: None if tags.get(TAG_GRANT) != job_id else
                  {k: v for k, v in tags.items() if k != TAG_GRANT})


def _retag(rt: Runtime, job_id: str, resource_id: str, change: Callable[[dict[str, str]], dict[str, str] | None]
           ) -> bool:
    """Give a disk or snapshot the tags ``change`` makes of its own (None: as they are)."""
    name = f"tag|{resource_id}"
    compute = rt.cloud.compute
    if rt.store.operation(job_id, name) is None:
        found = compute.find_disk(resource_id)
        tags = None if found is None else change(found.tags)
        if tags is None:
            return True
    else:
        tags = {}  # recorded: only checked
    return awaited(rt, job_id, name, lambda: compute.set_tags(resource_id, tags)).done


def sas_for(rt: Runtime, job: Header, source: Source, target: Target, disk: Disk, *, newer_than: int,
            owner: str | None = None) -> VaultEntry:
    """A SAS of a generation above ``newer_than`` that can serve this target's copy now;
    granted again (once, for every target) when the vault holds none. ``owner`` (the copy
    task's id) holds the disk's grant lock: its redelivery after a killed worker takes the
    lock back at once instead of waiting out its TTL; another copy of the disk finds it busy.

    Raises :class:`Busy` while another worker grants it."""
    name = sas_name(source.key, disk.key)
    entry = rt.vault.entry(job.id, name)
    if _serves(rt, job, source, target, disk, entry, newer_than):
        assert entry is not None
        return entry
    with rt.store.lock(job.id, f"grant|{source.key}|{disk.key}", GRANT_LOCK_SECONDS, owner) as taken:
        if not taken:
            raise Busy("SasBeingGranted", f"another worker grants read access to {disk.name}", retry_after=1)
        # the worker that held the lock before us may have granted just now
        entry = rt.vault.entry(job.id, name)
        if _serves(rt, job, source, target, disk, entry, newer_than):
            assert entry is not None
            return entry
        return _regrant(rt, job, source, disk)


def _serves(rt: Runtime, job: Header, source: Source, target: Target, disk: Disk, entry: VaultEntry | None,
            newer_than: int) -> bool:
    if entry is None or entry.generation <= newer_than:
        return False
    policy = rt.settings.sas
    nbytes = disk.size_bytes + FOOTER
    now = time.time()
    # a fresh grant lasts what the policy asks, or what Azure gave last time if that was less
    fresh = min(policy.lifetime(nbytes), entry.lifetime)
    if not renew_ahead(entry.seconds_left(now), policy.expected_seconds(nbytes), fresh):
        return True
    return _runs_to_end_on(rt, job, source, target, disk, entry, now)


def renew_ahead(seconds_left: float, copy_seconds: float, fresh_lifetime: float) -> bool:
    """Whether to grant again before a copy starts: the SAS will expire before the copy's
    expected end, and a fresh one would last it (else renewing gains nothing)."""
    return seconds_left < copy_seconds <= fresh_lifetime


def _runs_to_end_on(rt: Runtime, job: Header, source: Source, target: Target, disk: Disk, entry: VaultEntry,
                    now: float) -> bool:
    """Whether another target's copy running on ``entry`` should finish before it expires:
    renewing would cut it off, so this copy starts on the current SAS and, should that
    expire, is restarted with the one granted then."""
    assumed = rt.settings.sas.assumed_bandwidth
    for other in job.targets:
        if other.key == target.key or not job.staged(source, other):
            continue
        state = rt.store.disk_state(job.id, source.key, other.key, disk.key)
        if state.get("phase") != Phase.copying.value or state.get("sas_generation") != entry.generation:
            continue
        left = max(0, int(state.get("bytes_total") or disk.size_bytes) - int(state.get("bytes_copied") or 0))
        eta = state.get("eta")
        if now + (float(eta) if eta is not None else left / assumed) < entry.expires_at:
            return True
    return False


def revoke(rt: Runtime, job: Header, source: Source, disk: Disk, *, wait: bool = True) -> bool:
    """End a source disk's SAS, then take the job's gc mark off it: once per grant (the export
    record notes it), whoever asks first — the disk's last copy to end starts it, the source's
    cleanup finishes it. Whether it is done; with ``wait``, raises Waiting instead while Azure
    is at it."""
    field = export_field(disk.key)
    export = rt.store.source_state(job.id, source.key).get(field) or {}
    if not export.get("granted"):
        return True
    name = revoke_op(source, disk)
    compute = rt.cloud.compute
    pending: list[str] = []
    if not export.get("revoked"):
        if awaited(rt, job.id, name, lambda: compute.revoke(export["id"])).done:
            rt.store.update_source(job.id, source.key, **{field: export | {"revoked": True}})
        else:
            pending.append(name)
    if not pending and not export.get("temporary") and not unmark_grant(rt, job.id, export["id"]):
        pending.append(f"tag|{export['id']}")
    if pending and wait:
        raise still_running(rt, job.id, pending, f"revoke access to {disk.name}")
    return not pending


def _regrant(rt: Runtime, job: Header, source: Source, disk: Disk) -> VaultEntry:
    """Grant again (replacing the previous SAS) and note it on the source's export record."""
    field = export_field(disk.key)
    export = dict(rt.store.source_state(job.id, source.key)[field])
    entry = grant(rt, job, source, disk, export["id"], ours=bool(export.get("temporary")))
    if entry is None:
        raise still_running(rt, job.id, [grant_op(source, disk)], f"grant read access to {disk.name}")
    export |= {"granted": True, "revoked": False, "sas_generation": entry.generation, "sas_expires": entry.expires_at,
               "regrants": int(export.get("regrants") or 0) + 1}
    rt.store.update_source(job.id, source.key, **{field: export})
    return entry
