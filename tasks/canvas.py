"""The Celery canvases of a job: one per (source, target) pair.

::

    prepare(job, source, target)                        # errback: cleanup
      → chord( group(copy_disk(job, source, target, disk) for each disk),
               finalize(job, source, target) )          # errback: cleanup

Every signature is immutable and carries ids only. Copies return an outcome per disk
instead of raising, so the chord body always runs; the errback (on prepare and on the
chord body, which Celery also calls when a header task fails unexpectedly) cleans up
what the unexpected left. It is not put on the header tasks: it would then run while the
other copies of the pair are still going.

Freezing a canvas (:func:`header_ids`) fixes the header tasks' ids and group indexes, which
the job's watchdog needs to send a lost poll again, and the chord's own id, which applying it
makes the group's. The chord is applied once prepare returns: for a staged pair by prepare
itself, which starts and parks the copies instead of sending them
(:mod:`diskferry.tasks.startcopies`), for any other by Celery; either way each copy records
its request (group id and chord body included) for the watcher and the watchdog.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, chain, chord, group
from celery.canvas import Signature

from diskferry.config.celeryconfig import CLEANUP, COPY_DISK, FINALIZE, PREPARE
from diskferry.config.settings import Settings
from diskferry.model import DiskKey, Job, Source, Target


def pair_canvas(app: Celery, settings: Settings, job: Job, source: Source, target: Target) -> Signature:
    ids = (job.id, source.key, target.key)

    def sig(name: str, *args: str) -> Signature:
        return app.signature(name, args=args, immutable=True, queue=settings.queue)

    def errback() -> Signature:
        # mutable: Celery passes the failed task's id first
        return app.signature(CLEANUP, args=ids, queue=settings.queue)

    prepare = sig(PREPARE, *ids)
    prepare.link_error(errback())
    finalize = sig(FINALIZE, *ids)
    finalize.link_error(errback())
    copies = group(sig(COPY_DISK, *ids, disk.key) for disk in source.disks)
    return chain(prepare, chord(copies, finalize))


def job_canvases(app: Celery, settings: Settings, job: Job) -> list[Signature]:
    return [pair_canvas(app, settings, job, source, target) for source, target in job.pairs()]


def header_ids(canvas: Signature, source: Source) -> dict[DiskKey, tuple[str, int]]:
    """Freeze a pair's canvas; its copy tasks' ids and group indexes, by disk."""
    canvas.freeze()
    header = canvas.tasks[1].tasks  # chain(prepare, chord(group(copies), finalize))
    return {disk.key: (sig.id, index) for index, (disk, sig) in enumerate(zip(source.disks, header.tasks, strict=True))}


def pair_records(canvas: Signature) -> dict[str, dict[str, Any]]:
    """What a frozen pair canvas sends as prepare and, once its chord has counted every copy,
    as finalize: their ids and the options their messages carry (the rest of the chain, the
    errbacks), as the job's watchdog keeps them to send either again."""
    prepare, pair_chord = canvas.tasks
    body = pair_chord.body
    return {
        "prepare": {"id": prepare.id, "chain": [_as_sent(pair_chord)],
                    "link_error": [dict(e) for e in prepare.options.get("link_error") or []]},
        "finalize": {"id": body.id, "link_error": [dict(e) for e in body.options.get("link_error") or []]},
    }


def _as_sent(pair_chord: Signature) -> dict[str, Any]:
    """The chord as the chain that carries it sends it. Freezing sets the body on the chord and
    on each of its header tasks as their ``chord`` option, which applying the chord sets again
    (``chord.run``): ``chain.apply_async`` sends it without them, and so does this — the body
    three times over per disk was most of the message."""
    sent = _without_chord(dict(pair_chord))
    group_ = sent["kwargs"]["header"]  # the group of copies, as a signature's dict
    header = {**_without_chord(group_), "kwargs": {**group_["kwargs"],
                                                   "tasks": [_without_chord(t) for t in group_["kwargs"]["tasks"]]}}
    return {**sent, "kwargs": {**sent["kwargs"], "header": header}}


def _without_chord(sig: dict[str, Any]) -> dict[str, Any]:
    return {**sig, "options": {k: v for k, v in (sig.get("options") or {}).items() if k != "chord"}}
