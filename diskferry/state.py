"""The job record in Redis: job → sources → targets → disks, each with phase and error.

It is diskferry's own record, independent of Celery results, so that ``status`` works
while workers restart and after results expire. Layout (``P`` = ``diskferry:job:{id}``):

* ``P`` — a hash. The resolved job, written once, split so that a task reads only what it
  works on: ``header`` (:class:`~diskferry.model.Header`: the job without its sources),
  ``spec|{s}`` (one :class:`~diskferry.model.Source` with its disks), ``sources`` (their keys,
  in order, for readers of the whole job) and ``file`` (the job file as submitted). The state:
  ``meta``, ``src|{s}``, ``tgt|{s}|{t}``, ``disk|{s}|{t}|{d}`` — each a JSON object merged
  atomically (one Lua script, which also sets ``updated``; a key patched to None is removed),
  so concurrent tasks updating different disks never lose each other's writes (an
  object value with a ``since`` keeps the ``since`` of the one of its ``step`` it replaces: see
  :class:`~diskferry.model.Held`). No task's read grows with the job's size;
  the mapping between the model's dataclasses and these fields is in this module only;
* ``P:set:{name}`` — sets used for coordination (targets finished per source, pairs
  finished per staging account), ``P:lock:{name}`` — short locks;
* ``diskferry:jobs`` — a sorted set of job ids by creation time, for ``list``;
* ``diskferry:claim:{resource id}`` — the job that holds a source resource alone (see
  :mod:`diskferry.claims`), expiring with the job record's TTL.

Every key expires ``ttl`` seconds after the job's last update.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, cast

import redis
from pydantic import TypeAdapter
from redis.exceptions import LockError
from redis.lock import Lock

from diskferry.cloud.types import ResourceId
from diskferry.errors import NotFound
from diskferry.model import (
    Disk,
    DiskKey,
    Error,
    Header,
    Held,
    Job,
    Pair,
    Phase,
    Source,
    SourceKey,
    Target,
    TargetKey,
)

# KEYS[1] the record, KEYS[2] its change log; ARGV: field, patch (JSON; null removes a key),
# TTL, when (epoch seconds; '' for housekeeping: neither ``updated`` nor the log moves),
# '1' to replace the field with the patch rather than merge it. A change is logged as the
# field's name scored with the record's ``seq``, bumped by one (see ``JobStore.changes``).
_MERGE = """
local doc = {}
if ARGV[5] ~= '1' then
  local cur = redis.call('HGET', KEYS[1], ARGV[1])
  if cur then doc = cjson.decode(cur) end
end
local patch = cjson.decode(ARGV[2])
for k, v in pairs(patch) do
  if v == cjson.null then
    doc[k] = nil
  else
    -- an object that says ``since`` when something began keeps the stored one's, if both are
    -- of the same ``step`` (``Held``: a step's run of errors; another step's starts anew)
    local old = doc[k]
    if type(v) == 'table' and v['since'] ~= nil and type(old) == 'table' and old['since'] ~= nil
       and old['step'] == v['step'] then
      v['since'] = old['since']
    end
    doc[k] = v
  end
end
if ARGV[4] == '' then
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(doc))
else
  local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(doc), 'updated', ARGV[4])
  redis.call('ZADD', KEYS[2], seq, ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS[1] the job's operations (``P:ops``), KEYS[2] the fleet's learned lengths (``OPERATION_TIMES``);
# ARGV: the ended operation's name, its kind, how long it took at most (seconds from its start
# until it was seen ended), whether it was seen ended at its first check, the rate below, the
# lengths' ttl. A kind's length follows its shortest operations:
# * none learned yet, or one that took less: that, at once (none is then seen late by more);
# * one seen ended at its first check (made once the length had passed): it ended by then, and
#   maybe well before, which says nothing new — unchanged. The operations checked as Azure asks
#   (``waits.PROBE_EVERY``) are what lowers it;
# * one still running at a check: longer; the length rises by a share of the difference
#   (``LEARN_UP``), so that one slow operation does not delay every other one's check.
_LEARN = """
redis.call('HDEL', KEYS[1], ARGV[1])
local took = tonumber(ARGV[3])
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[2]))
local new = took
if cur and took >= cur then
  if ARGV[4] == '1' then new = cur else new = cur + (took - cur) * tonumber(ARGV[5]) end
end
redis.call('HSET', KEYS[2], ARGV[2], tostring(new))
redis.call('EXPIRE', KEYS[2], ARGV[6])
return 1
"""

#: the fleet's learned length of each kind of operation (``diskferry.pipeline.waits``): one hash,
#: kind -> seconds; Azure's, not a job's, so that a job's first operations are checked by it too
OPERATION_TIMES = "diskferry:operation-times"
#: how long a learned length is kept once no operation of its kind ended
OPERATION_TIMES_TTL = 7 * 24 * 3600
#: the share of the difference by which a length rises when an operation ran longer
LEARN_UP = 0.125


# KEYS[1] the record, KEYS[2] its change log; ARGV[1] the last ``seq`` the caller saw. Returns
# the record's ``seq``, ``updated`` and ``logged_from`` now, and each field changed since with
# its JSON, in one atomic read (a field changed again meanwhile is read as it is now, and
# logged again).
_CHANGES = """
local now = redis.call('HMGET', KEYS[1], 'seq', 'updated', 'logged_from')
local names = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')
local values = {}
for i, name in ipairs(names) do values[i] = redis.call('HGET', KEYS[1], name) end
return {now[1], now[2], now[3], names, values}
"""

# KEYS[1] the record, KEYS[2] its change log: the log goes, and the record says which changes
# it no longer holds (a follower that saw fewer reads the whole record again)
_DROP_CHANGES = """
local seq = redis.call('HGET', KEYS[1], 'seq')
if seq then redis.call('HSET', KEYS[1], 'logged_from', seq) end
redis.call('DEL', KEYS[2])
return 1
"""


@dataclass(frozen=True)
class Changes:
    """What a follower reads of a record each round (``JobStore.changes``)."""

    #: the record's last change number now; None: a record without a change log
    seq: int | None
    #: the record's ``updated`` now; None: no such record
    updated: float | None
    #: the JSON of each field changed since the number asked about
    fields: dict[str, str | None]
    #: False when the log no longer holds every change since then: read the whole record
    complete: bool


#: take every claim or none: the first key another job holds is returned as {key, holder}
_CLAIM = """
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v and v ~= ARGV[1] then return {k, v} end
end
for i, k in ipairs(KEYS) do redis.call('SET', k, ARGV[1], 'EX', ARGV[2]) end
return {}
"""

#: drop the claims that ARGV[1] holds (and only those)
_UNCLAIM = """
local n = 0
for i, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then n = n + redis.call('DEL', k) end
end
return n
"""

#: park a copy (KEYS: the target's parked set, its watcher); ARGV: member, due, ttl, now,
#: stale_after, a new watcher id, its first round's time, a margin. Returns the new id when no
#: watcher is there, when the one that is has not come back for ``stale_after`` seconds (its
#: message lost), or when its next round comes more than ``margin`` after this copy's first
#: (it planned a long wait, and a woken copy parks again due sooner): the caller starts it, for
#: that first round, and the one it replaces stops when its own message comes
_PARK = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local due = redis.call('HGET', KEYS[2], 'due')
if due and tonumber(due) + tonumber(ARGV[5]) >= tonumber(ARGV[4])
    and tonumber(due) <= tonumber(ARGV[7]) + tonumber(ARGV[8]) then return '' end
redis.call('HSET', KEYS[2], 'id', ARGV[6], 'due', ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return ARGV[6]
"""

#: move parked copies to new due times, each only if its due time is still the one read
#: (a woken copy may have parked itself again meanwhile); ARGV: member, old, new, ...
_RESCHEDULE = """
for i = 1, #ARGV, 3 do
  local cur = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if cur and tonumber(cur) == tonumber(ARGV[i + 1]) then
    redis.call('ZADD', KEYS[1], ARGV[i + 2], ARGV[i])
  end
end
return 1
"""

#: a watcher's round ends (KEYS: parked set, watcher; ARGV: its id, its next due, ttl):
#: -1 it was replaced, 0 nothing is parked (it is gone now), 1 it goes on (due recorded)
_WATCHER_NEXT = """
if redis.call('HGET', KEYS[2], 'id') ~= ARGV[1] then return -1 end
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return 0
end
redis.call('HSET', KEYS[2], 'due', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

Fields = dict[str, Any]
#: parked copies (``source|disk``) with when each is due (the methods' ``list`` shadows the builtin)
Parked = list[tuple[str, float]]

#: the one mapping of the resolved job's dataclasses to the record's JSON fields and back
_HEADER: TypeAdapter[Header] = TypeAdapter(Header)
_SOURCE: TypeAdapter[Source] = TypeAdapter(Source)
_SOURCES: TypeAdapter[list[Source]] = TypeAdapter(list[Source])
HEADER = "header"
#: JSON without the spaces after separators: a record holds one spec per source
_COMPACT = (",", ":")
SOURCES = "sources"


def spec_field(source: SourceKey) -> str:
    """The record's field of one resolved source (with its disks)."""
    return f"spec|{source}"


def _job_fields(job: Job) -> dict[str, str]:
    """The resolved job as the record's fields."""
    fields = {
        HEADER: json.dumps(_HEADER.dump_python(job.header(), mode="json"), separators=_COMPACT),
        SOURCES: json.dumps([s.key for s in job.sources], separators=_COMPACT),
    }
    fields.update({spec_field(s.key): _spec_json(s) for s in job.sources})
    return fields


def _header_of(raw: str) -> Header:
    return _HEADER.validate_json(raw)


#: a source's ARM ids in its record start with this in place of its resource group's id (most of
#: a source's spec was those ids: the record's budget is 1 KiB per disk)
_IN_GROUP = "~/"


def _group_prefix(doc: Fields) -> str:
    return f"/subscriptions/{doc['subscription_id']}/resourceGroups/{doc['resource_group']}/providers/"


def _spec_json(source: Source) -> str:
    """A source's spec as its record field: ids in its own resource group relative to it."""
    # fields at their default (None, mostly) are left out: validation gives them back
    doc = cast(Fields, _SOURCE.dump_python(source, mode="json", exclude_defaults=True))
    prefix = _group_prefix(doc)
    for item in (doc, *doc.get("disks", ())):
        rid = item["resource_id"]
        if rid.startswith(prefix):
            item["resource_id"] = _IN_GROUP + rid[len(prefix):]
    return json.dumps(doc, separators=_COMPACT)


def _spec_doc(raw: str) -> Fields:
    doc = cast(Fields, json.loads(raw))
    prefix = _group_prefix(doc)
    for item in (doc, *doc.get("disks", ())):
        if item["resource_id"].startswith(_IN_GROUP):
            item["resource_id"] = prefix + item["resource_id"][len(_IN_GROUP):]
    return doc


def _source_of(raw: str) -> Source:
    return _SOURCE.validate_python(_spec_doc(raw))


def _job_of(header: Header, sources: list[Source]) -> Job:
    return Job(id=header.id, created=header.created, targets=header.targets, options=header.options,
               sources=sources)


def _missing(job_id: str) -> NotFound:
    return NotFound("JobNotFound", f"no job {job_id} (unknown, or expired)")


@dataclass
class DiskStatus:
    source: SourceKey
    target: TargetKey
    key: DiskKey
    name: str
    phase: Phase
    bytes_total: int
    bytes_copied: int = 0
    #: bytes per second over the last poll interval
    rate: float | None = None
    #: seconds until the copy ends, at that rate
    eta: float | None = None
    result_name: str | None = None
    result_id: str | None = None
    error: Error | None = None
    #: times the copy was started again because its source could not be read (SAS expired
    #: or revoked), and why, oldest first
    restarts: int = 0
    restart_reasons: list[str] = field(default_factory=list)
    #: when Azure says its copy ended, and when the fleet saw it ended (epoch seconds)
    copy_completed: float | None = None
    copied_at: float | None = None
    #: the transient error its copy's polls keep meeting, while they do
    held: Held | None = None


@dataclass
class TargetStatus:
    source: SourceKey
    key: TargetKey
    region: str
    resource_group: str
    phase: Phase
    disks: list[DiskStatus] = field(default_factory=list)
    image_name: str | None = None
    image_id: str | None = None
    #: the VM rebuilt from the pair's disks (``vm:``): its name, id, power state and NIC
    vm_name: str | None = None
    vm_id: str | None = None
    vm_power: str | None = None
    nic_id: str | None = None
    error: Error | None = None
    #: its cleanup ran to the end (with the source's and staging account's, when last)
    cleaned: bool = False
    #: what its cleanup could not remove (a resource group locked against deletes, ...)
    cleanup_error: Error | None = None
    #: the transient error its current step (prepare, finalize, cleanup) keeps meeting, while it does
    held: Held | None = None


@dataclass
class SourceStatus:
    key: SourceKey
    kind: str
    name: str
    location: str
    phase: Phase
    targets: list[TargetStatus] = field(default_factory=list)
    error: Error | None = None
    #: what the source's cleanup could not undo (a VM that would not start again, ...)
    cleanup_error: Error | None = None
    #: the disks whose snapshot Azure still copies in the background (Premium SSD v2 and Ultra
    #: disks: not exported until it ends), with the percentage done at the last look
    background: dict[DiskKey, float] = field(default_factory=dict)


@dataclass
class JobStatus:
    id: str
    created: float
    updated: float
    phase: Phase
    sources: list[SourceStatus] = field(default_factory=list)
    #: the transient error each target's copy watcher keeps meeting (its listing of the staged
    #: copies refused or unanswered), by target (``region/resource group``), while it does
    watchers_held: dict[str, Held] = field(default_factory=dict)

    def disks(self) -> list[DiskStatus]:
        return [d for s in self.sources for t in s.targets for d in t.disks]

    def targets(self) -> list[TargetStatus]:
        return [t for s in self.sources for t in s.targets]

    @property
    def done(self) -> bool:
        """Every disk of every target has its outcome."""
        return self.phase.terminal

    @property
    def cleaned(self) -> bool:
        """Every pair's cleanup ran to the end (see ``cleanup_errors`` for what it could not undo)."""
        return all(t.cleaned for t in self.targets())

    def cleanup_errors(self) -> list[tuple[str, Error]]:
        """(where, what) for each thing a cleanup could not undo: where is a source's name, or
        ``source → region`` for a pair."""
        out = []
        for s in self.sources:
            if s.cleanup_error is not None:
                out.append((s.name, s.cleanup_error))
            out += [(f"{s.name} → {t.region}", t.cleanup_error) for t in s.targets if t.cleanup_error is not None]
        return out


@dataclass
class JobSummary:
    id: str
    created: float
    updated: float
    phase: Phase
    sources: int
    targets: int
    disks: int
    disks_succeeded: int
    disks_failed: int


def _error(doc: Fields, name: str = "error") -> Error | None:
    err = doc.get(name)
    if isinstance(err, dict) and err.get("code"):
        return Error(str(err["code"]), str(err.get("message", "")))
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, Phase):
        return value.value
    if isinstance(value, Error | Held):
        return value.as_dict()
    return value


#: the key of a pair's or disk's field that says what holds its step up (:class:`Held`)
HELD = "held"


def watcher_held_key(target: TargetKey) -> str:
    """The key of the job's ``meta`` that says what holds up ``target``'s copy watcher."""
    return f"{HELD}|{target}"


def watchers_held(job: Job, meta: Fields) -> dict[str, Held]:
    """What holds up each target's copy watcher (by ``region/resource group``), from ``meta``."""
    out = {}
    for target in job.targets:
        held = Held.of(meta.get(watcher_held_key(target.key)))
        if held is not None:
            out[f"{target.region}/{target.resource_group}"] = held
    return out


def _pair_held(tdoc: Fields, phase: Phase) -> Held | None:
    """The pair's held-up record, if its step is still the pair's: a record a step left behind
    when it ended some other way than the writes that remove it is not shown (a prepare's
    record once the pair copies, a finalize's once it ended, a cleanup's once it ran)."""
    held = Held.of(tdoc.get(HELD))
    if held is None:
        return None
    if held.step == "cleanup":
        return None if tdoc.get("cleaned") else held
    if phase.terminal:
        return None
    before_copies = phase in (Phase.pending, Phase.preparing)
    return held if (held.step == "prepare") == before_copies else None


def overall(phases: list[Phase]) -> Phase:
    """The phase of a whole from its parts: cancelled/failed/succeeded once all parts are terminal."""
    if not phases:
        return Phase.pending
    if all(p.terminal for p in phases):
        # a cancelled job is cancelled, whatever its parts had reached
        for end in (Phase.cancelled, Phase.failed):
            if end in phases:
                return end
        return Phase.succeeded
    if all(p is Phase.pending for p in phases):
        return Phase.pending
    return Phase.copying if any(p is Phase.copying for p in phases) else Phase.preparing


def disk_field(source: SourceKey, target: TargetKey, disk: DiskKey) -> str:
    """The record's field of one destination disk."""
    return f"disk|{source}|{target}|{disk}"


def target_field(source: SourceKey, target: TargetKey) -> str:
    """The record's field of one (source, target) pair."""
    return f"tgt|{source}|{target}"


#: a finished disk's ``result_id`` when it is the id its ``result_name`` makes in its target (most
#: of a finished disk's field was that id: the record's budget is 1 KiB per disk)
SAME_RESULT_ID = "="


def result_disk_id(target: Target, name: str) -> str:
    """The ARM id of the managed disk ``name`` in ``target``'s resource group."""
    return str(ResourceId(target.subscription_id, target.resource_group, "Microsoft.Compute", "disks", name))


def result_id_of(doc: Fields, target: Target | None) -> str | None:
    """A disk field's result id, made again from its name when stored as :data:`SAME_RESULT_ID`."""
    result_id = doc.get("result_id")
    if result_id != SAME_RESULT_ID:
        return cast(str | None, result_id)
    return result_disk_id(target, doc["result_name"]) if target is not None and doc.get("result_name") else None


def disk_status(source: SourceKey, target: TargetKey, disk: Disk, raw: str | None,
                where: Target | None = None) -> DiskStatus:
    """One destination disk from its field's JSON (None: never written); ``where``: its target,
    which a result id stored as :data:`SAME_RESULT_ID` is made from."""
    ddoc = json.loads(raw) if raw else {}
    return DiskStatus(
        source=source,
        target=target,
        key=disk.key,
        name=disk.name,
        phase=Phase(ddoc.get("phase", "pending")),
        bytes_total=int(ddoc.get("bytes_total") or disk.size_bytes),
        bytes_copied=int(ddoc.get("bytes_copied") or 0),
        rate=ddoc.get("rate"),
        eta=ddoc.get("eta"),
        result_name=ddoc.get("result_name"),
        result_id=result_id_of(ddoc, where),
        error=_error(ddoc),
        restarts=int(ddoc.get("restarts") or 0),
        restart_reasons=[str(r) for r in ddoc.get("restart_reasons") or []],
        copy_completed=ddoc.get("copy_completed"),
        copied_at=ddoc.get("copied_at"),
        held=None if Phase(ddoc.get("phase", "pending")).terminal else Held.of(ddoc.get(HELD)),
    )


def target_status(source: Source, target: Target, raw: Mapping[str, str | None]) -> TargetStatus:
    """One pair's status from its record's fields (``raw``: its ``tgt|`` field and its disks')."""
    tdoc = json.loads(raw.get(f"tgt|{source.key}|{target.key}") or "{}")
    disks = [disk_status(source.key, target.key, disk, raw.get(disk_field(source.key, target.key, disk.key)), target)
             for disk in source.disks]
    phase = target_phase(tdoc, disks)
    return TargetStatus(
        source=source.key,
        key=target.key,
        region=target.region,
        resource_group=target.resource_group,
        phase=phase,
        disks=disks,
        image_name=tdoc.get("image_name"),
        image_id=tdoc.get("image_id"),
        vm_name=tdoc.get("vm_name"),
        vm_id=tdoc.get("vm_id"),
        vm_power=tdoc.get("vm_power"),
        nic_id=tdoc.get("nic_id"),
        error=_error(tdoc),
        cleaned=bool(tdoc.get("cleaned")),
        cleanup_error=_error(tdoc, "cleanup_error"),
        held=_pair_held(tdoc, phase),
    )


def source_status(source: Source, raw: str | None, targets: list[TargetStatus]) -> SourceStatus:
    """One source's status from its ``src|`` field and its pairs' statuses."""
    sdoc = json.loads(raw or "{}")
    return SourceStatus(
        key=source.key,
        kind=source.kind.value,
        name=source.name,
        location=source.location,
        phase=overall([t.phase for t in targets]),
        targets=targets,
        error=_error(sdoc),
        cleanup_error=_error(sdoc, "cleanup_error"),
        background={k.removeprefix(BACKGROUND): float(v) for k, v in sdoc.items()
                    if k.startswith(BACKGROUND) and v is not None},
    )


#: the source record's fields of the snapshots Azure still copies in the background, by disk
BACKGROUND = "background|"


def background_field(disk: DiskKey) -> str:
    """The source record's field holding how far the background copy of ``disk``'s snapshot is."""
    return f"{BACKGROUND}{disk}"


def record_fields(job: Job) -> list[str]:
    """Every field of a job's record but the resolved job itself."""
    names = ["meta", "updated"]
    for source in job.sources:
        names.append(f"src|{source.key}")
        for target in job.targets:
            names.append(f"tgt|{source.key}|{target.key}")
            names += [disk_field(source.key, target.key, disk.key) for disk in source.disks]
    return names


def target_phase(tdoc: Fields, disks: list[DiskStatus]) -> Phase:
    phase = Phase(tdoc.get("phase", "pending"))
    if phase is Phase.pending:
        # the pair's own phase moves at its steps; its disks tell in between
        phase = overall([d.phase for d in disks])
        phase = Phase.copying if phase.terminal else phase
    return phase


def _pair_of(job_id: str, source: SourceKey, target: TargetKey, header: str | None, spec: str | None) -> Pair:
    """A pair from its record's header and source spec (None: absent)."""
    if header is None:
        raise _missing(job_id)
    job = _header_of(header)
    if spec is None:
        raise KeyError(f"job {job_id} has no source {source}")
    return Pair(job, _source_of(spec), job.target(target))


@dataclass(frozen=True)
class DiskView:
    """A disk's pair and the state its copy's poll looks at (:meth:`JobStore.disk_view`)."""

    pair: Pair
    meta: Fields
    source_state: Fields
    target_state: Fields
    disk_state: Fields


class JobStore:
    """Read and update job records. Safe to share between threads of one process."""

    INDEX = "diskferry:jobs"

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self._r = client
        self.ttl = ttl_seconds
        self._merge = client.register_script(_MERGE)
        self._changes = client.register_script(_CHANGES)
        self._drop_changes = client.register_script(_DROP_CHANGES)
        self._claim = client.register_script(_CLAIM)
        self._unclaim = client.register_script(_UNCLAIM)
        self._park = client.register_script(_PARK)
        self._reschedule = client.register_script(_RESCHEDULE)
        self._watcher_next = client.register_script(_WATCHER_NEXT)
        self._learn = client.register_script(_LEARN)

    @classmethod
    def from_url(cls, url: str, ttl_seconds: int) -> JobStore:
        return cls(redis.Redis.from_url(url, decode_responses=True), ttl_seconds)

    # -- keys ----------------------------------------------------------------------------
    @staticmethod
    def key(job_id: str) -> str:
        return f"diskferry:job:{job_id}"

    def _changes_key(self, job_id: str) -> str:
        return f"{self.key(job_id)}:changes"

    def _set_key(self, job_id: str, name: str) -> str:
        return f"{self.key(job_id)}:set:{name}"

    def _lock_key(self, job_id: str, name: str) -> str:
        return f"{self.key(job_id)}:lock:{name}"

    # -- creation ------------------------------------------------------------------------
    def create(self, job: Job, spec: Fields | None = None) -> None:
        """Store a new job: the resolved job and every source/target/disk ``pending``."""
        now = time.time()
        fields: dict[str, str] = {
            **_job_fields(job),
            "file": json.dumps(spec or {}),
            "meta": json.dumps({"created": job.created}),
            "updated": repr(now),
            # the number of the record's last logged change (``changes``): none yet
            "seq": "0",
        }
        for source in job.sources:
            fields[f"src|{source.key}"] = json.dumps({"phase": Phase.pending.value})
            for target in job.targets:
                fields[f"tgt|{source.key}|{target.key}"] = json.dumps({"phase": Phase.pending.value})
                for disk in source.disks:
                    fields[f"disk|{source.key}|{target.key}|{disk.key}"] = json.dumps(
                        {"phase": Phase.pending.value, "bytes_total": disk.size_bytes, "bytes_copied": 0}
                    )
        key = self.key(job.id)
        with self._r.pipeline() as pipe:
            pipe.hset(key, mapping=cast(dict[Any, Any], fields))
            pipe.expire(key, self.ttl)
            pipe.zadd(self.INDEX, {job.id: job.created})
            pipe.execute()

    def exists(self, job_id: str) -> bool:
        return bool(self._r.exists(self.key(job_id)))

    def header(self, job_id: str) -> Header:
        """The job without its sources (one small read)."""
        raw = self._r.hget(self.key(job_id), HEADER)
        if raw is None:
            raise _missing(job_id)
        return _header_of(cast(str, raw))

    def pair(self, job_id: str, source: SourceKey, target: TargetKey) -> Pair:
        """What a task of one (source, target) pair reads: the header and that source (one
        HMGET of two fields, whatever the job's size). KeyError: no such source or target."""
        header, spec = cast(list[str | None], self._r.hmget(self.key(job_id), [HEADER, spec_field(source)]))
        return _pair_of(job_id, source, target, header, spec)

    def disk_view(self, job_id: str, source: SourceKey, target: TargetKey, disk: DiskKey) -> DiskView:
        """What a copy poll reads, in one HMGET whatever the job's size: its pair, the job's
        meta (a cancel request), its source's and pair's state and its disk's."""
        names = [HEADER, spec_field(source), "meta", f"src|{source}", f"tgt|{source}|{target}",
                 disk_field(source, target, disk)]
        header, spec, *docs = cast(list[str | None], self._r.hmget(self.key(job_id), names))
        pair = _pair_of(job_id, source, target, header, spec)
        meta, src, tgt, state = (cast(Fields, json.loads(raw)) if raw else {} for raw in docs)
        return DiskView(pair, meta, src, tgt, state)

    def job(self, job_id: str) -> Job:
        """The whole resolved job: every source (for the producer, views and the watchdog;
        tasks read a :meth:`pair`)."""
        raw = self._r.hget(self.key(job_id), SOURCES)
        if raw is None:
            raise _missing(job_id)
        keys = cast(list[str], json.loads(cast(str, raw)))
        values = cast(list[str | None], self._r.hmget(self.key(job_id), [HEADER, *map(spec_field, keys)]))
        if any(v is None for v in values):
            raise _missing(job_id)
        # one validation of every source, rather than one per source
        sources = _SOURCES.validate_python([_spec_doc(cast(str, v)) for v in values[1:]])
        return _job_of(_header_of(cast(str, values[0])), sources)

    def put_job(self, job: Job) -> None:
        """Replace the resolved job (resume renames its staging accounts)."""
        key = self.key(job.id)
        with self._r.pipeline() as pipe:
            pipe.hset(key, mapping=cast(dict[Any, Any], _job_fields(job)))
            pipe.expire(key, self.ttl)
            pipe.execute()

    # -- updates -------------------------------------------------------------------------
    def _update(self, job_id: str, name: str, patch: Fields, *, touch: bool = True) -> None:
        body = {k: _plain(v) for k, v in patch.items()}
        self._merge(keys=[self.key(job_id), self._changes_key(job_id)],
                    args=[name, json.dumps(body), self.ttl, repr(time.time()) if touch else "", ""])

    def update_job(self, job_id: str, *, touch: bool = True, **patch: Any) -> None:
        """Fields of the job as a whole (its ``meta``: the watchdog's id and due time, ...);
        without ``touch``, the record's ``updated`` stays (see :meth:`update_disks`)."""
        self._update(job_id, "meta", patch, touch=touch)

    def hold_watcher(self, job_id: str, target: TargetKey, held: Held | None) -> None:
        """Record what holds up ``target``'s copy watcher (None: nothing any more)."""
        self._update(job_id, "meta", {watcher_held_key(target): held})

    def job_meta(self, job_id: str) -> Fields:
        return self._doc(job_id, "meta")

    def update_source(self, job_id: str, source: SourceKey, **patch: Any) -> None:
        self._update(job_id, f"src|{source}", patch)

    def update_target(self, job_id: str, source: SourceKey, target: TargetKey, **patch: Any) -> None:
        self._update(job_id, target_field(source, target), patch)

    def update_disk(self, job_id: str, source: SourceKey, target: TargetKey, disk: DiskKey, **patch: Any) -> None:
        self._update(job_id, disk_field(source, target, disk), patch)

    def update_disks(self, job_id: str, patches: Mapping[str, Fields], *, touch: bool = True) -> None:
        """Patch many fields of the record (name -> patch, any kind of field) in one round
        trip, each as :meth:`update_disk` would; without ``touch``, the record's ``updated``
        stays (housekeeping that changes nothing a reader of the job's state is shown)."""
        if not patches:
            return
        keys, now = [self.key(job_id), self._changes_key(job_id)], repr(time.time()) if touch else ""
        with self._r.pipeline(transaction=False) as pipe:
            for name, patch in patches.items():
                body = {k: _plain(v) for k, v in patch.items()}
                self._merge(keys=keys, args=[name, json.dumps(body), self.ttl, now, ""], client=pipe)
            pipe.execute()

    def drop_keys(self, job_id: str, keys_by_kind: Mapping[str, Sequence[str]]) -> int:
        """Remove keys from the record's fields of some kinds (``{"tgt": ("prepare", ...)}``:
        the kind is a field name's part before its first ``|``), each field patched as
        :meth:`update_disk` would, so that a concurrent write is not lost. Reads the whole
        record: once per job, not per task. How many fields changed."""
        patches: dict[str, Fields] = {}
        for name, raw in cast(dict[str, str], self._r.hgetall(self.key(job_id))).items():
            drop = keys_by_kind.get(name.split("|", 1)[0])
            if not drop or not raw.startswith("{"):
                continue
            present = [k for k in drop if k in json.loads(raw)]
            if present:
                patches[name] = dict.fromkeys(present)
        # housekeeping: the job's last update (what `list` and followers show) stays what it was
        self.update_disks(job_id, patches, touch=False)
        return len(patches)

    # -- reads ---------------------------------------------------------------------------
    def _doc(self, job_id: str, name: str) -> Fields:
        raw = self._r.hget(self.key(job_id), name)
        return cast(Fields, json.loads(cast(str, raw))) if raw else {}

    def source_state(self, job_id: str, source: SourceKey) -> Fields:
        return self._doc(job_id, f"src|{source}")

    def target_state(self, job_id: str, source: SourceKey, target: TargetKey) -> Fields:
        return self._doc(job_id, target_field(source, target))

    def disk_state(self, job_id: str, source: SourceKey, target: TargetKey, disk: DiskKey) -> Fields:
        return self._doc(job_id, f"disk|{source}|{target}|{disk}")

    def updated(self, job_id: str) -> float | None:
        """When the job's record last changed (None: unknown or expired) — one small read, for
        followers that skip the whole record while nothing changed."""
        raw = self._r.hget(self.key(job_id), "updated")
        return float(cast(str, raw)) if raw else None

    def status(self, job_id: str, job: Job | None = None) -> JobStatus:
        """A consistent snapshot of the record's state (one HMGET; given the resolved ``job``,
        which never changes while the job runs, a follower need not re-read it)."""
        job = job or self.job(job_id)
        raw = self._raw_of(job)
        if "meta" not in raw:
            raise _missing(job_id)
        return self.from_raw(job, raw)

    @staticmethod
    def from_raw(job: Job, stored: Mapping[str, str | None]) -> JobStatus:
        """The status of ``job`` from its record's fields as stored (absent or None: unwritten)."""
        raw = {k: v for k, v in stored.items() if v is not None}
        meta = json.loads(raw.get("meta", "{}"))
        sources = []
        for source in job.sources:
            targets = [target_status(source, target, raw) for target in job.targets]
            sources.append(source_status(source, raw.get(f"src|{source.key}"), targets))
        return JobStatus(
            id=job.id,
            created=float(meta.get("created", job.created)),
            updated=float(raw.get("updated") or job.created),
            phase=overall([t.phase for s in sources for t in s.targets]),
            sources=sources,
            watchers_held=watchers_held(job, meta),
        )

    def _raw_of(self, job: Job) -> dict[str, str]:
        return {name: value for name, value in self.raw_fields(job.id, record_fields(job)).items()
                if value is not None}

    def changes(self, job_id: str, since: int) -> Changes:
        """The fields changed after change number ``since`` (a ``seq`` read earlier with the
        fields it went with), as stored now: what a follower reads each round, whatever the
        job's size. Every update but housekeeping (``touch=False``) is logged; a record older
        than the log has no ``seq``."""
        seq, updated, logged_from, names, values = self._changes(
            keys=[self.key(job_id), self._changes_key(job_id)], args=[since])
        return Changes(None if seq is None else int(seq), None if updated is None else float(updated),
                       dict(zip(names, values, strict=True)), int(logged_from or 0) <= since)

    def drop_changes(self, job_id: str) -> None:
        """Forget the change log of a job that is over (nothing follows it any more; a
        follower still there reads the whole record once, and goes on from it)."""
        self._drop_changes(keys=[self.key(job_id), self._changes_key(job_id)])

    def raw_fields(self, job_id: str, names: list[str]) -> dict[str, str | None]:
        """The JSON of some fields of the record as stored (one HMGET), for followers that
        rebuild only what changed."""
        values = cast(list[str | None], self._r.hmget(self.key(job_id), names)) if names else []
        return dict(zip(names, values, strict=True))

    def list(self, limit: int = 100) -> list[JobSummary]:
        """The newest jobs first; ids whose record expired are dropped from the index."""
        ids = cast(list[str], self._r.zrevrange(self.INDEX, 0, limit - 1))
        summaries = []
        for job_id in ids:
            try:
                st = self.status(job_id)
            except NotFound:
                self._r.zrem(self.INDEX, job_id)
                continue
            disks = st.disks()
            summaries.append(
                JobSummary(
                    id=st.id,
                    created=st.created,
                    updated=st.updated,
                    phase=st.phase,
                    sources=len(st.sources),
                    targets=len({t.key for t in st.targets()}),
                    disks=len(disks),
                    disks_succeeded=sum(d.phase is Phase.succeeded for d in disks),
                    disks_failed=sum(d.phase is Phase.failed for d in disks),
                )
            )
        return summaries

    # -- coordination ----------------------------------------------------------------------
    def add_member(self, job_id: str, set_name: str, member: str) -> set[str]:
        """Add ``member`` to a coordination set; return the set's members afterwards.

        Adding twice is harmless, which makes "am I the last?" checks idempotent.
        """
        key = self._set_key(job_id, set_name)
        with self._r.pipeline() as pipe:
            pipe.sadd(key, member)
            pipe.expire(key, self.ttl)
            pipe.smembers(key)
            members = pipe.execute()[-1]
        return set(cast(set[str], members))

    def count_member(self, job_id: str, set_name: str, member: str) -> int:
        """Add ``member`` to a coordination set; return how many members it has afterwards
        (one number, however large the set)."""
        key = self._set_key(job_id, set_name)
        with self._r.pipeline() as pipe:
            pipe.sadd(key, member)
            pipe.expire(key, self.ttl)
            pipe.scard(key)
            return int(pipe.execute()[-1])

    def is_member(self, job_id: str, set_name: str, member: str) -> bool:
        return bool(self._r.sismember(self._set_key(job_id, set_name), member))

    def set_size(self, job_id: str, set_name: str) -> int:
        return int(cast(int, self._r.scard(self._set_key(job_id, set_name))))

    def task_ids(self, job_id: str) -> tuple[set[str], set[str]]:
        """(task ids, chord group ids) the job's record names: every pair's prepare, finalize and
        cleanup, every copy and its chord — the Celery results a job over may forget. Reads the
        whole record: once per job, not per task."""
        tasks: set[str] = set()
        groups: set[str] = set()
        for name, raw in cast(dict[str, str], self._r.hgetall(self.key(job_id))).items():
            if not name.startswith(("tgt|", "disk|")):
                continue
            doc = json.loads(raw)
            groups.update(g for g in doc.get("chords") or [] if isinstance(g, str))
            for step in ("prepare", "finalize", "cleanup", "poll"):
                request = doc.get(step)
                if isinstance(request, dict):
                    tasks.update(i for i in [request.get("id")] if isinstance(i, str))
                    groups.update(g for g in [request.get("group")] if isinstance(g, str))
        return tasks, groups

    def drop_set(self, job_id: str, set_name: str) -> None:
        """Forget a coordination set whose question is answered (a job's record stays small)."""
        self._r.delete(self._set_key(job_id, set_name))

    def members(self, job_id: str, set_name: str) -> set[str]:
        return set(cast(set[str], self._r.smembers(self._set_key(job_id, set_name))))

    @contextmanager
    def lock(self, job_id: str, name: str, ttl_seconds: int, owner: str | None = None) -> Iterator[bool]:
        """Try once to take a lock; yields whether it was taken (and releases it if so).

        Never waits: callers that find it taken retry later (a countdown, not a sleep). The TTL
        frees a lock whose holder died; an ``owner`` (a task id) that finds the lock still held
        in its own name takes it back at once — a redelivered task is the holder that died.
        """
        lock = Lock(self._r, self._lock_key(job_id, name), timeout=ttl_seconds, blocking=False,
                    thread_local=False)
        token = owner or secrets.token_hex(8)
        lock.local.token = token.encode()
        taken = lock.reacquire() if lock.owned() else lock.acquire(token=token)
        try:
            yield taken
        finally:
            if taken:
                with suppress(LockError):  # it expired meanwhile: nothing of ours to release
                    lock.release()

    # -- listings shared by polls (diskferry.pipeline.copystatus) ---------------------------------
    # one hash per job and listing, ``P:listing:{name}``: ``@at`` (when listed) and member -> JSON
    _LISTED_AT = "@at"

    def listing(self, job_id: str, name: str) -> tuple[float, dict[str, str]] | None:
        """(when listed, member -> JSON) of the job's latest listing ``name``; None: there is none."""
        entries = cast(dict[str, str], self._r.hgetall(self._listing_key(job_id, name)))
        at = entries.pop(self._LISTED_AT, None)
        return (float(at), entries) if at is not None else None

    def put_listing(self, job_id: str, name: str, at: float, entries: Mapping[str, str], ttl_seconds: int) -> None:
        """Replace the listing ``name`` as a whole (readers never see half of one); it expires
        after ``ttl_seconds``: a cache, not a record."""
        key = self._listing_key(job_id, name)
        fields: dict[Any, Any] = {self._LISTED_AT: repr(at), **entries}
        with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=fields)
            pipe.expire(key, ttl_seconds)
            pipe.execute()

    def _listing_key(self, job_id: str, name: str) -> str:
        return f"{self.key(job_id)}:listing:{name}"

    # -- parked copies and their watcher (diskferry.pipeline.copywatch) ----------------------------
    # per job and target: ``P:set:parked|T``, a sorted set of ``source|disk`` by when each copy is
    # to be looked at; ``P:set:watcher|T``, the watcher's task id and when its next round is due
    def _parked_keys(self, job_id: str, target: TargetKey) -> tuple[str, str]:
        return self._set_key(job_id, f"parked|{target}"), self._set_key(job_id, f"watcher|{target}")

    def park(self, job_id: str, target: TargetKey, member: str, due: float, *, new_watcher: str,
             stale_after: float, first_round: float, margin: float = 0.0) -> str | None:
        """Park a copy until ``due``; the id of a watcher the caller must start (for a first round
        at ``first_round``), if one must: none is there, the one there is lost, or its next round
        comes more than ``margin`` seconds after ``first_round``."""
        found = self._park(keys=[*self._parked_keys(job_id, target)],
                           args=[member, repr(due), self.ttl, repr(time.time()), repr(stale_after), new_watcher,
                                 repr(first_round), repr(margin)])
        return cast(str, found) or None

    def unpark(self, job_id: str, target: TargetKey, member: str) -> None:
        self._r.zrem(self._parked_keys(job_id, target)[0], member)

    def parked(self, job_id: str, target: TargetKey, until: float) -> tuple[str | None, float | None, Parked]:
        """(the watcher's id and when its round is due, the copies due by ``until`` with their due
        times)."""
        parked, watcher = self._parked_keys(job_id, target)
        with self._r.pipeline(transaction=False) as pipe:
            pipe.hmget(watcher, ["id", "due"])
            pipe.zrangebyscore(parked, "-inf", repr(until), withscores=True)
            (owner, round_due), due = pipe.execute()
        return (cast(str | None, owner), None if round_due is None else float(round_due),
                [(str(m), float(s)) for m, s in due])

    def all_parked(self, job_id: str, target: TargetKey) -> Parked:
        found = cast(list[tuple[str, float]], self._r.zrange(self._parked_keys(job_id, target)[0], 0, -1,
                                                              withscores=True))
        return [(str(m), float(s)) for m, s in found]

    def next_parked(self, job_id: str, target: TargetKey) -> float | None:
        """When the earliest parked copy is due (None: none is parked)."""
        key = self._parked_keys(job_id, target)[0]
        first = cast(list[tuple[str, float]], self._r.zrange(key, 0, 0, withscores=True))
        return float(first[0][1]) if first else None

    def reschedule(self, job_id: str, target: TargetKey, moves: Sequence[tuple[str, float, float]]) -> None:
        """Move parked copies (member, due time read, new due time), each only if unchanged since."""
        if moves:
            args = [v for member, old, new in moves for v in (member, repr(old), repr(new))]
            self._reschedule(keys=[self._parked_keys(job_id, target)[0]], args=args)

    def watcher_flag(self, job_id: str, target: TargetKey, name: str) -> bool:
        """Set a flag on the target's watcher; whether this call set it (first to see)."""
        return bool(self._r.hsetnx(self._parked_keys(job_id, target)[1], name, "1"))

    def watcher_next(self, job_id: str, target: TargetKey, watcher: str, due: float) -> int:
        """End a watcher's round: -1 it was replaced, 0 nothing is parked (it is removed), 1 it goes on."""
        return int(cast(int, self._watcher_next(keys=[*self._parked_keys(job_id, target)],
                                                args=[watcher, repr(due), self.ttl])))

    # -- Azure operations in flight -----------------------------------------------------------
    # one hash per job, ``P:ops``: name -> the operation's JSON (see diskferry.cloud.operations)
    def operation(self, job_id: str, name: str) -> Fields | None:
        raw = self._r.hget(f"{self.key(job_id)}:ops", name)
        return cast(Fields, json.loads(cast(str, raw))) if raw else None

    def put_operation(self, job_id: str, name: str, doc: Fields) -> None:
        key = f"{self.key(job_id)}:ops"
        with self._r.pipeline() as pipe:
            pipe.hset(key, name, json.dumps(doc))
            pipe.expire(key, self.ttl)
            pipe.execute()

    def drop_operation(self, job_id: str, name: str) -> None:
        self._r.hdel(f"{self.key(job_id)}:ops", name)

    def typical(self, kind: str) -> float | None:
        """How long operations of ``kind`` take, as the fleet learned it (:meth:`end_operation`;
        None before one ended)."""
        raw = self._r.hget(OPERATION_TIMES, kind)
        return float(cast(str, raw)) if raw else None

    def end_operation(self, job_id: str, name: str, kind: str, took: float, *, first_check: bool) -> None:
        """Forget the ended operation ``name`` and learn how long ``kind``'s operations take from
        this one: it took at most ``took`` seconds, and was seen ended at its ``first_check``
        or after a check that found it running (``_LEARN``)."""
        self._learn(keys=[f"{self.key(job_id)}:ops", OPERATION_TIMES], args=[
            name, kind, max(0.0, took), int(first_check), LEARN_UP, OPERATION_TIMES_TTL])

    # -- cancellation (diskferry.pipeline.cancel) ---------------------------------------------
    def request_cancel(self, job_id: str, *, discard: bool) -> None:
        """Ask every step of the job to stop (``discard``: and to delete what it made)."""
        if not self.exists(job_id):
            raise NotFound("JobNotFound", f"no job {job_id} (unknown, or expired)")
        self._update(job_id, "meta", {"cancel": {"at": time.time(), "discard": discard}})

    def cancel_request(self, job_id: str) -> Fields | None:
        """``{"at": epoch, "discard": bool}`` once the job was asked to stop, else None."""
        return cast(Fields | None, self._doc(job_id, "meta").get("cancel"))

    def meta(self, job_id: str) -> Fields:
        return self._doc(job_id, "meta")

    def update_meta(self, job_id: str, **patch: Any) -> None:
        self._update(job_id, "meta", patch)

    def reset(self, job_id: str, name: str, doc: Fields) -> None:
        """Replace one part of the record (``src|…``, ``tgt|…``, ``disk|…``) with ``doc`` (resume)."""
        body = {k: _plain(v) for k, v in doc.items()}
        self._merge(keys=[self.key(job_id), self._changes_key(job_id)],
                    args=[name, json.dumps(body), self.ttl, repr(time.time()), "1"])

    def clear_sets(self, job_id: str) -> None:
        """Forget the job's coordination sets (resume starts them again)."""
        keys = list(self._r.scan_iter(match=self._set_key(job_id, "*")))
        if keys:
            self._r.delete(*keys)

    # -- claims on source resources (diskferry.claims) -------------------------------------
    CLAIM_PREFIX = "diskferry:claim:"

    @classmethod
    def _claim_key(cls, resource_id: str) -> str:
        # ARM ids are case-insensitive
        return cls.CLAIM_PREFIX + resource_id.lower()

    def claim(self, job_id: str, resource_ids: Sequence[str]) -> tuple[str, str] | None:
        """Claim every resource for ``job_id``, or none: returns (resource id, holder) of the
        first that another job holds, else None."""
        if not resource_ids:
            return None
        keys = [self._claim_key(r) for r in resource_ids]
        found = cast(Sequence[str], self._claim(keys=keys, args=[job_id, self.ttl]))
        if not found:
            return None
        return found[0].removeprefix(self.CLAIM_PREFIX), found[1]

    def claim_holder(self, resource_id: str) -> str | None:
        return cast(str | None, self._r.get(self._claim_key(resource_id)))

    def release_claims(self, job_id: str, resource_ids: Sequence[str]) -> int:
        """Drop the claims ``job_id`` holds on these resources; returns how many."""
        if not resource_ids:
            return 0
        return int(cast(int, self._unclaim(keys=[self._claim_key(r) for r in resource_ids], args=[job_id])))

    def delete(self, job_id: str) -> None:
        """Remove a job record and its coordination keys (for tests and ``forget``)."""
        prefix = self.key(job_id)
        keys = [prefix, *cast(list[str], list(self._r.scan_iter(match=f"{prefix}:*")))]
        self._r.delete(*keys)
        self._r.zrem(self.INDEX, job_id)
