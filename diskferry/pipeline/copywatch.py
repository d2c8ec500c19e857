"""Copies in flight watched a target at a time: a copy's task parks, one watcher looks at them all.

Polled by their own tasks, copies cost a Celery task run each per look (about 20 ms of worker
CPU: the message, the pool, the events, the retry) and a countdown message apiece held in
Redis: 2,000 copies near their end need more looks a second than two cores can run. So once a
copy is started its task *parks* it — puts it in the target's parked set with the time it is
to be looked at (``polling.PollPolicy``, from its progress) — and ends without a result. The
target's *watcher*, one task per job and target on the poll queue, comes round when the
earliest parked copy is due (never later than ``LONGEST_ROUND`` apart), lists the staging
container once (:func:`copystatus.listing`), and for each copy due: records its progress and
its next look (a line of Python and a Redis write, not a task run), or — when its copy ended,
failed, is gone, passed its deadline, or the job is being cancelled — *wakes* its task: sends it
again with its own id and chord options (as the job's watchdog re-sends a lost poll), and the
task does what it does at any poll (marks the disk copied, restarts a failed copy, aborts,
cancels) and returns its outcome to the chord.

Why it is safe:

* a parked task has no message anywhere: what brings it back is its entry in the parked set,
  kept until its task ended it (:func:`unpark`) — a woken copy is moved ahead, not removed, so
  a wake that was lost is sent again: ``UNSENT_WAKE_SECONDS`` ahead by the round that decides
  it, ``WAKE_AGAIN_SECONDS`` once the round has sent it (:func:`sent`), so that a wake the
  round could not send (Redis went away, or its worker died) is sent again within seconds, and
  one waiting behind a long queue is not sent twice;
* a watcher killed mid-round is redelivered (``acks_late``) and does the round again: a copy
  woken twice runs twice under one id, which the chord counts once (``diskferry.pipeline.watchdog``);
* a watcher message that is not the round planned last (a duplicate delivery, or the message
  given back when Redis died after a round was recorded and before its next message was sent)
  does no round: it comes back once, when that round is ``TAKE_OVER_SECONDS`` late, and takes
  it over if the record says it never ran (:class:`Recheck`);
* one watcher per target: parking starts one when none is there, or when the one there has
  not come back for longer than any redelivery takes (its message lost; the old one, should it
  come back, finds itself replaced and stops); a watcher stops once nothing is parked, in the
  same atomic step that parking checks (``JobStore.park`` and ``JobStore.watcher_next``);
* every look writes the disk's ``poll_due``: a parked copy whose watcher is gone for good is
  overdue for the job's watchdog, which sends its task again; that run parks it again and
  starts a new watcher.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from diskferry.cloud import CopyState, CopyStatus
from diskferry.errors import DiskFailed
from diskferry.model import Phase
from diskferry.naming import STAGING_CONTAINER, staged_blob
from diskferry.pipeline import copystatus, polling
from diskferry.pipeline.copy import COPIED_AT, COPY_COMPLETED, SEEN_ENDED
from diskferry.pipeline.runtime import Runtime
from diskferry.state import disk_field, watcher_held_key

Fields = dict[str, Any]
log = logging.getLogger(__name__)

#: a watcher comes round at least this often while copies are parked, so that a copy parked
#: after it planned its next round (to be looked at sooner) waits no longer than this
LONGEST_ROUND = 15.0
#: a woken copy whose task has neither ended it nor parked it again after this long is woken again
#: (its wake sent: at the end of a 2,000-disk job, a woken copy's task waits tens of seconds
#: behind the others woken; lost only with the broker's data)
WAKE_AGAIN_SECONDS = 300.0
#: a copy a round decided to wake is woken again after this long unless the round says it sent
#: the wake (its send failed while Redis was away, or its worker died before sending it)
UNSENT_WAKE_SECONDS = 30.0
#: a round that found the listing being taken by another worker comes back after this long
BUSY_ROUND = 1.0
#: a watcher's round this late is taken by any message of that watcher (its own was lost)
TAKE_OVER_SECONDS = 30.0
#: the share of a copy's lag budget (``PollPolicy.lag_budget``) its look may come late by
SLACK_FRACTION = 0.5


@dataclass(frozen=True)
class Wake:
    """A parked copy whose task must run now, and the poll record it was parked with."""

    source: str
    disk: str
    poll: Fields
    reason: str
    #: when the copy is due again in its parked set (``UNSENT_WAKE_SECONDS`` after the round)
    due: float = 0.0


@dataclass
class Round:
    """What one watcher round did: copies looked at, tasks to wake, when to come again."""

    looked: int = 0
    wake: list[Wake] = field(default_factory=list)
    #: seconds to the next round
    next_in: float = LONGEST_ROUND


def member(source: str, disk: str) -> str:
    return f"{source}|{disk}"


def park(rt: Runtime, job_id: str, source: str, target: str, disk: str, due: float, *, new_watcher: str,
         stale_after: float, first_round: float) -> str | None:
    """Park a copy until ``due``; the id of the watcher the caller must start (its first round at
    ``first_round``), if one must be. A watcher whose next round comes more than the policy's
    floor after ``first_round`` is replaced: a copy woken and started again (a restart) parks
    due in seconds, while the watcher, with nothing else due, planned its next round up to
    ``LONGEST_ROUND`` away (a restart then waited 15 s for its first look)."""
    margin = polling.PollPolicy.of(rt.settings).floor
    return rt.store.park(job_id, target, member(source, disk), due, new_watcher=new_watcher, stale_after=stale_after,
                         first_round=first_round, margin=margin)


def unpark(rt: Runtime, job_id: str, source: str, target: str, disk: str) -> None:
    """The copy's task ended it: the watcher has nothing more to do with it."""
    rt.store.unpark(job_id, target, member(source, disk))


@dataclass(frozen=True)
class Recheck:
    """This message is not the round its watcher planned last: come back at ``at``, once, and
    take that round over if it has not run by then."""

    at: float


def look(rt: Runtime, job_id: str, target_key: str, watcher: str, now: float | None = None,
         planned: float | None = None, checking: bool = False) -> Round | Recheck | None:
    """One round of ``watcher`` over the target's parked copies; None when another watcher replaced
    it. A message that is not the round the watcher planned last (``planned``: when this round's
    message was due) is either a duplicate (a broker may deliver one twice), which must not go
    on as a second chain of rounds, or the survivor of a round whose next message was never
    sent (Redis died between recording that round and sending it: the message is given back,
    and no other exists). The two look alike, so it comes back (``Recheck``) once that planned
    round is ``TAKE_OVER_SECONDS`` late, and then (``checking``) takes it over if it never ran,
    or stops. A round that late is taken by any message of its watcher."""
    now = time.time() if now is None else now
    policy = polling.PollPolicy.of(rt.settings)
    # a copy is parked until the latest its look may come (its due time plus a slack); copies
    # whose latest falls within half the floor are looked at now, rather than in a round of their
    # own a moment later
    owner, round_due, due = rt.store.parked(job_id, target_key, now + policy.floor / 2)
    if owner != watcher:
        return None
    if planned is not None and round_due is not None and abs(planned - round_due) > 0.01:
        if checking:
            # back to take over the round due ``TAKE_OVER_SECONDS`` before this message: told
            # by the record, not by this worker's clock, whether the watcher went on since
            if abs(planned - TAKE_OVER_SECONDS - round_due) > 0.01:
                return None
        elif now < round_due + TAKE_OVER_SECONDS:
            return Recheck(round_due + TAKE_OVER_SECONDS)
    out = Round()
    meta = rt.store.job_meta(job_id)
    cancel = meta.get("cancel") is not None
    if cancel and rt.store.watcher_flag(job_id, target_key, "cancelled"):
        due = rt.store.all_parked(job_id, target_key)  # once: every parked copy, its task aborts it
    if due:
        header = rt.store.header(job_id)
        target = header.target(target_key)
        keys = [_keys(m) for m, _ in due]
        names = [disk_field(s, target_key, d) for s, d in keys]
        docs = {n: json.loads(raw) if raw else {} for n, raw in rt.store.raw_fields(job_id, names).items()}
        started = max((float(doc.get("started") or 0) for doc in docs.values()), default=0.0)
        listed = None
        if not cancel:
            account = rt.staging_account(target)
            assert account is not None
            try:
                with rt.staging_calls(target):
                    listed = copystatus.listing(rt, job_id, account, STAGING_CONTAINER, not_before=started,
                                                owner=watcher)
            except DiskFailed as exc:
                # no listing can be had, for good: the account is gone (StagingAccountGone), or it
                # refuses the fleet (a policy turned off its shared-key access, and the fleet's
                # principal holds no blob data role for Entra ID: 403). Retried, the
                # round would fail every few seconds until the stall guard, its copies never
                # looked at: each is woken as "missing" instead, and its task, reading its own
                # blob, fails its disk with Azure's reason
                log.warning("job %s: cannot list the copies to %s (%s); waking them", job_id, target_key, exc)
                listed = ({}, time.time())
            if listed is None:  # another worker is listing: its listing answers in a moment
                out.next_in = BUSY_ROUND
                return out
            if watcher_held_key(target_key) in meta:
                # the listing got through (or failed for good, and the copies say why): what
                # held the watcher up (``diskferry.tasks.copywatch``) no longer does
                rt.store.hold_watcher(job_id, target_key, None)
        statuses, listed_at = listed or ({}, now)
        patches: dict[str, Fields] = {}
        moves: list[tuple[str, float, float]] = []
        for (name, (m, at)), (source, disk) in zip(zip(names, due, strict=True), keys, strict=True):
            doc = docs[name]
            status = statuses.get(staged_blob(job_id, source, target_key, disk))
            reason, patch, next_look = _decide(policy, doc, status, cancel, listed_at, now)
            if reason is None:
                out.looked += 1
            else:
                out.wake.append(Wake(source, disk, doc.get("poll") or {}, reason, now + next_look))
            patches[name] = patch
            moves.append((m, at, now + next_look))
        rt.store.update_disks(job_id, patches)
        rt.store.reschedule(job_id, target_key, moves)
    first = rt.store.next_parked(job_id, target_key)
    if first is not None:
        out.next_in = min(LONGEST_ROUND, max(policy.floor, first - time.time()))
    return out


def _decide(policy: polling.PollPolicy, doc: Fields, status: CopyStatus | None, cancel: bool, observed: float,
            now: float) -> tuple[str | None, Fields, float]:
    """What a round does with a parked copy: (why its task must run now, or None while it is
    copying; the patch of its record; seconds until it is due again)."""
    phase = Phase(doc.get("phase", "pending"))
    if phase is not Phase.copying:
        # its task ended it (and died before unparking), or it is not started yet (a
        # redelivered first run parks it again): either way, its task decides
        reason = "ended" if phase is not Phase.pending else "not started"
    elif cancel:
        reason = "cancel"
    elif now > float(doc.get("deadline") or now + 1):
        reason = "deadline"
    elif status is None:
        reason = "missing"  # its blob is gone, or its copy was never started: its task looks itself
    elif status.state is CopyState.pending:
        patch, next_look = _progress(policy, doc, status, observed, now)
        return None, patch, next_look
    elif status.state is CopyState.success:
        # seen ended: the record says so now, not once the woken task has run; that run revokes
        # the SAS and counts the disk in its chord (``copy.advance``)
        return status.state.value, {
            "phase": Phase.copied, "bytes_copied": status.total, "bytes_total": status.total or doc.get("bytes_total"),
            "eta": 0, "poll_due": now, SEEN_ENDED: True, COPIED_AT: round(observed, 3),
            COPY_COMPLETED: status.completed}, UNSENT_WAKE_SECONDS
    else:
        reason = status.state.value  # failed or aborted: its task restarts it or fails the disk
    return reason, {"poll_due": now}, UNSENT_WAKE_SECONDS


def sent(rt: Runtime, job_id: str, target_key: str, wakes: list[Wake], now: float | None = None) -> None:
    """The round sent these wakes (or found nothing to send): each copy is due again only
    ``WAKE_AGAIN_SECONDS`` from now, unless its task parked it again meanwhile."""
    now = time.time() if now is None else now
    rt.store.reschedule(job_id, target_key, [(member(w.source, w.disk), w.due, now + WAKE_AGAIN_SECONDS)
                                             for w in wakes])


def _keys(parked: str) -> tuple[str, str]:
    source, disk = parked.split("|", 1)
    return source, disk


def _progress(policy: polling.PollPolicy, doc: Fields, status: CopyStatus, observed: float,
              now: float) -> tuple[Fields, float]:
    """A pending copy's bytes, rate and ETA for the record, and the seconds until its next look
    is due at the latest."""
    started = float(doc.get("started") or now)
    last_time = float(doc.get("sample_time") or observed)
    prior = doc.get("rate")
    if observed <= last_time and doc.get("eta") is not None:
        eta: float | None = float(doc["eta"])  # no newer than what the record has
        patch: Fields = {}
    else:
        rate = polling.smoothed_rate(None if prior is None else float(prior), last_time,
                                     int(doc.get("sample_bytes") or 0), observed, status.copied)
        eta = polling.eta_of(rate, status.copied, status.total)
        patch = {"bytes_copied": status.copied, "bytes_total": status.total or doc.get("bytes_total"),
                 "rate": rate, "eta": eta, "sample_time": observed, "sample_bytes": status.copied}
    next_look = policy.next_poll(now - started, eta)
    # the copy's look may come this much later, so that copies due close together share a round
    # (a round costs a task run and a listing; a look, a line of Python): half its lag budget
    # (never more than half the countdown: an ETA from a sparse disk's progress can be far too long)
    slack = SLACK_FRACTION * min(next_look, policy.lag_budget(now - started, eta or 0.0))
    return patch | {"poll_due": now + next_look + slack}, next_look + slack
