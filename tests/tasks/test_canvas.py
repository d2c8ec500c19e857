from __future__ import annotations

import json
from typing import Any

import redis
from celery import Celery
from celery.canvas import Signature, _chain, _chord

from diskferry.config.celeryconfig import CLEANUP, COPY_DISK, FINALIZE, PREPARE, celery_config
from diskferry.config.settings import Settings
from diskferry.tasks.canvas import header_ids, job_canvases, pair_canvas
from tests.brokerview import queued
from tests.diskferry import factories

SETTINGS = Settings.from_env({"DISKFERRY_BROKER_URL": "redis://127.0.0.1:1/0"})


def _app() -> Celery:
    app = Celery("canvas-test")
    app.conf.update(celery_config(SETTINGS))
    return app


def _only_ids(sig: Signature, expected: tuple[str, ...]) -> None:
    assert tuple(sig.args) == expected
    assert not sig.kwargs


def test_pair_canvas_shape() -> None:
    job = factories.job()
    source, target = job.sources[0], job.targets[0]
    canvas = pair_canvas(_app(), SETTINGS, job, source, target)
    assert isinstance(canvas, _chain)
    prepare, body = canvas.tasks
    ids = (job.id, source.key, target.key)

    assert prepare.task == PREPARE and prepare.immutable
    _only_ids(prepare, ids)
    assert isinstance(body, _chord)
    header = body.tasks
    assert [s.task for s in header] == [COPY_DISK] * len(source.disks)
    assert [tuple(s.args) for s in header] == [(*ids, d.key) for d in source.disks]
    assert all(s.immutable for s in header)
    assert all(not s.options.get("link_error") for s in header)  # the errback waits for the whole chord

    finalize = body.body
    assert finalize.task == FINALIZE and finalize.immutable
    _only_ids(finalize, ids)
    for sig in (prepare, finalize):
        (errback,) = sig.options["link_error"]
        assert errback["task"] == CLEANUP
        assert tuple(errback["args"]) == ids and not errback.get("immutable")
    assert {s.options["queue"] for s in (prepare, finalize, *header)} == {"diskferry"}


def test_one_canvas_per_source_and_target() -> None:
    job = factories.job(sources=[factories.vm_source("a", 1), factories.vm_source("b", 3)])
    canvases = job_canvases(_app(), SETTINGS, job)
    assert len(canvases) == 4
    pairs = [(c.tasks[0].args[1], c.tasks[0].args[2]) for c in canvases]
    assert pairs == [(s.key, t.key) for s in job.sources for t in job.targets]
    assert [len(c.tasks[1].tasks) for c in canvases] == [2, 2, 4, 4]


def _sent(settings: Settings, name: str) -> list[dict[str, Any]]:
    return [m for m in queued(settings.broker_url).get(settings.queue, []) if m["headers"]["task"] == name]


def test_what_the_broker_carries_is_ids_only(broker_app: tuple[Celery, Settings]) -> None:
    """The sent canvas (prepare's message, which carries the rest of the chain: the chord, its
    copies and finalize, the errbacks) holds no URL or SAS and no object, only short ids."""
    app, settings = broker_app
    job = factories.job()
    pair_canvas(app, settings, job, job.sources[0], job.targets[1]).apply_async()
    (message,) = _sent(settings, PREPARE)
    wire = json.dumps(message)
    assert "sig=" not in wire and "http" not in wire
    args, kwargs, embed = message["body"]
    (chord,) = embed["chain"]
    sigs = [chord["kwargs"]["body"], *chord["kwargs"]["header"]["kwargs"]["tasks"]]
    assert not kwargs and len(sigs) == 1 + len(job.sources[0].disks)
    for arguments in [args, *(s["args"] for s in sigs)]:
        assert all(isinstance(a, str) and len(a) < 100 for a in arguments), arguments


def test_the_copies_are_sent_with_the_ids_and_indexes_freezing_fixed(broker_app: tuple[Celery, Settings]) -> None:
    """``header_ids`` (what the watchdog re-sends a lost poll with) are the task ids and
    group indexes the copy messages carry once prepare's worker applies the chord it finds
    in prepare's message."""
    app, settings = broker_app
    job = factories.job(sources=[factories.vm_source("a", 3)])
    source = job.sources[0]
    canvas = pair_canvas(app, settings, job, source, job.targets[0])
    ids = header_ids(canvas, source)
    canvas.apply_async()
    (message,) = _sent(settings, PREPARE)
    (chord,) = message["body"][2]["chain"]
    app.signature(chord).apply_async()  # what Celery's worker does with the chain once prepare succeeded

    copies = {m["body"][0][3]: (m["headers"]["id"], m["headers"]["group_index"]) for m in _sent(settings, COPY_DISK)}
    assert copies == ids
    assert len({task_id for task_id, _ in ids.values()}) == len(source.disks)


def test_a_lost_polls_chord_body_is_rebuilt_from_the_pairs_finalize(broker_app: tuple[Celery, Settings]) -> None:
    """Only a pair's first copy records the chord's signature; should no copy have recorded it,
    the watchdog rebuilds it from the pair's finalize record: the same task, arguments, id,
    queue and errback as the canvas made."""
    from diskferry.tasks.canvas import pair_records
    from diskferry.tasks.watchdog import _chord_body

    job = factories.job()
    source, target = job.sources[0], job.targets[0]
    app, settings = broker_app
    canvas = pair_canvas(app, settings, job, source, target)
    canvas.freeze()
    made = dict(canvas.tasks[1].body)
    lost = {"id": "x", "group": "g", "finalize": pair_records(canvas)["finalize"]}
    rebuilt = _chord_body(app, settings, job.id, source.key, target.key, lost)
    assert (rebuilt["task"], list(rebuilt["args"]), rebuilt["immutable"]) == (FINALIZE, list(made["args"]), True)
    assert rebuilt["options"]["task_id"] == made["options"]["task_id"]
    assert rebuilt["options"]["queue"] == made["options"]["queue"] == settings.queue
    assert json.loads(json.dumps(rebuilt["options"]["link_error"])) == json.loads(
        json.dumps(made["options"]["link_error"]))


def test_prepare_sent_from_its_record_is_the_message_the_canvas_sends(broker_app: tuple[Celery, Settings]) -> None:
    """``submit`` (and the watchdog, for a lost prepare) sends prepare from the pair's record —
    its id, the frozen rest of its chain, its errback — rather than ``canvas.apply_async()``,
    which froze and cloned the whole chain again. What the broker carries is the same."""
    from diskferry.tasks.canvas import pair_records
    from diskferry.tasks.watchdog import resend_options

    app, settings = broker_app
    job = factories.job(sources=[factories.vm_source("a", 2)])
    source, target = job.sources[0], job.targets[0]
    canvas = pair_canvas(app, settings, job, source, target)
    header_ids(canvas, source)
    canvas.apply_async()
    (by_canvas,) = _sent(settings, PREPARE)
    record = pair_records(canvas)["prepare"]
    with redis.Redis.from_url(settings.broker_url) as client:
        client.delete(settings.queue)
    app.signature(PREPARE, args=(job.id, source.key, target.key), immutable=True).apply_async(
        queue=settings.queue, **resend_options(record))
    (by_record,) = _sent(settings, PREPARE)
    # but for the chord's group id, which the canvas's second freezing makes anew (and the
    # worker's applying the chord anew again: the copies record the one they run under)
    group_ids = [m["body"][2]["chain"][0]["options"]["task_id"] for m in (by_canvas, by_record)]
    assert json.dumps(by_record["body"]) == json.dumps(by_canvas["body"]).replace(*group_ids)
    assert by_record["headers"] == by_canvas["headers"]
