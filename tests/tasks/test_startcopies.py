"""A staged pair's prepare starts and parks its copies and applies the chord without sending
them (``diskferry.tasks.startcopies``); delivered again (its worker killed after it parked the
copies), it starts nothing twice and leaves the chord's size alone: sized again after a copy
counted, the chord would wait for that copy forever."""

from __future__ import annotations

import gc
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from celery import Celery, Task

from diskferry import naming
from diskferry.config.celeryconfig import COPY_DISK, PREPARE
from diskferry.config.settings import Settings
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Job, Phase
from diskferry.producer.api import release_results
from diskferry.producer.jobfile import parse
from diskferry.producer.planner import make_plan
from diskferry.tasks.app import make_app, settings_of
from diskferry.tasks.base import runtime
from diskferry.tasks.canvas import header_ids, pair_canvas, pair_records
from diskferry.vault import new_key
from tests.fleet.checks import delta

COPY_BLOB = "blob.CopyBlob"


def _job(emulator: EmulatorProcess, db: str, admin: AdminClient) -> tuple[Celery, Job]:
    """A VM of two disks (OS and one data disk) planned to brazilsouth, its record created;
    copies slow enough to be running when the test looks."""
    rg = f"start-{uuid.uuid4().hex[:6]}"
    seed(emulator.env, SeedSpec.model_validate({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                                                "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]}))
    admin.set(lro_latency=0.0, copy_bandwidth=16 * 1024)
    app = make_app(Settings.from_env({**emulator.env, "DISKFERRY_BROKER_URL": db, "DISKFERRY_RESULT_BACKEND": db,
                                      "DISKFERRY_STATE_URL": db, "DISKFERRY_VAULT_KEY": new_key()}))
    rt = runtime(app.tasks[PREPARE])
    spec = parse({"source": {"resource_group": rg, "vms": ["app"]},
                  "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]})
    job = make_plan(spec, rt.cloud, rt.settings, job_id=naming.new_job_id()).job
    rt.store.create(job)
    return app, job


@contextmanager
def _delivered(task: Task, prepare: dict[str, Any], args: tuple[str, ...]) -> Iterator[None]:
    """``task`` runs as the delivery of prepare's message: its id, the rest of its chain."""
    task.push_request(id=prepare["id"], args=args, kwargs={}, chain=json.loads(json.dumps(prepare["chain"])),
                      root_id=prepare["id"], hostname="test@host", called_directly=False, retries=0)
    try:
        yield
    finally:
        task.pop_request()


def _queued(db: str, name: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(db)
    try:
        messages = [json.loads(m) for q in client.scan_iter(_type="list") for m in client.lrange(q, 0, -1)]
    finally:
        client.close()
    return [m for m in messages if isinstance(m, dict) and m.get("headers", {}).get("task") == name]


def test_prepare_parks_the_copies_and_a_redelivery_starts_nothing_twice(
        emulator: EmulatorProcess, redis_db: Callable[[], str], admin: AdminClient) -> None:
    db = redis_db()
    app, job = _job(emulator, db, admin)
    source, target = job.sources[0], job.targets[0]
    canvas = pair_canvas(app, settings_of(app), job, source, target)
    copies = header_ids(canvas, source)
    prepare = pair_records(canvas)["prepare"]
    group_id = canvas.tasks[1].options["task_id"]
    task = app.tasks[PREPARE]
    rt = runtime(task)
    ids = (job.id, source.key, target.key)
    backend = redis.Redis.from_url(db)
    size_key = f"celery-taskset-meta-{group_id}.s"
    try:
        before = admin.counters()
        with _delivered(task, prepare, ids):
            assert task.run(*ids)["ok"] is True
            assert task.request.chain is None  # applied: Celery sends no copy
        assert delta(before, admin.counters()).get(COPY_BLOB) == 2
        assert _queued(db, COPY_DISK) == []
        assert backend.get(size_key) == b"2"
        parked = dict(rt.store.all_parked(job.id, target.key))
        assert len(parked) == 2
        for disk in source.disks:
            state = rt.store.disk_state(job.id, source.key, target.key, disk.key)
            assert state["phase"] == Phase.copying.value
            poll = state["poll"]
            # the request the canvas froze for this copy, and the chord's group: the watcher
            # sends exactly that task once the copy ended
            assert (poll["id"], poll["group_index"]) == copies[disk.key]
            assert poll["group"] == group_id
        assert rt.store.disk_state(job.id, source.key, target.key, source.disks[0].key)["poll"]["chord"]["options"][
            "task_id"] == pair_records(canvas)["finalize"]["id"]

        # the chord as it stands once a copy counted; then prepare's message comes back (its
        # worker died before acking it)
        backend.set(size_key, b"7")
        before = admin.counters()
        with _delivered(task, prepare, ids):
            assert task.run(*ids)["ok"] is True
        assert delta(before, admin.counters()).get(COPY_BLOB, 0) == 0  # the running copies were found
        assert backend.get(size_key) == b"7"  # not sized again
        assert dict(rt.store.all_parked(job.id, target.key)).keys() == parked.keys()
        assert _queued(db, COPY_DISK) == []
    finally:
        backend.close()
        # freezing the canvas made results that subscribe to the backend: dropped while Redis is up
        del canvas
        gc.collect()
        release_results(app)
