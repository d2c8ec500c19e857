from __future__ import annotations

from celery import Celery
from celery.canvas import Signature, _chain, _chord, group

from diskferry.config.celeryconfig import CLEANUP, COPY_DISK, FINALIZE, PREPARE, celery_config
from diskferry.config.settings import Settings
from diskferry.tasks.canvas import header_ids, job_canvases, pair_canvas
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


def test_no_secret_or_object_in_any_argument() -> None:
    job = factories.job()
    canvas = pair_canvas(_app(), SETTINGS, job, job.sources[0], job.targets[1])
    text = repr(canvas)
    assert "sig=" not in text and "http" not in text
    header: group = canvas.tasks[1].tasks
    for sig in (canvas.tasks[0], canvas.tasks[1].body, *header):
        assert all(isinstance(a, str) and len(a) < 100 for a in sig.args)


def test_freezing_fixes_the_copy_tasks_ids_and_group_indexes() -> None:
    job = factories.job(sources=[factories.vm_source("a", 3)])
    source = job.sources[0]
    app = _app()
    app.conf.result_backend = "cache+memory://"  # freezing asks the result backend for nothing real
    canvas = pair_canvas(app, SETTINGS, job, source, job.targets[0])
    ids = header_ids(canvas, source)
    header = canvas.tasks[1].tasks.tasks
    assert ids == {d.key: (sig.id, i) for i, (d, sig) in enumerate(zip(source.disks, header, strict=True))}
    assert len({task_id for task_id, _ in ids.values()}) == len(source.disks)
    assert [sig.options["group_index"] for sig in header] == list(range(len(source.disks)))
