"""The pair's tasks as a worker runs them (Celery's own tracer, a real result backend): a step
that waits for Azure stores no RETRY record; the run that ends it stores its result."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from celery import Task
from celery.app.trace import build_tracer, reset_worker_optimizations, setup_worker_optimizations
from celery.exceptions import Retry

from diskferry import naming
from diskferry.config.celeryconfig import COPY_DISK, PREPARE
from diskferry.config.settings import Settings
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.errors import AzureUnavailable, ConnectionFailed, RetryLater, Throttled, Waiting
from diskferry.model import Held, Job, Phase
from diskferry.pipeline import cleanup
from diskferry.pipeline import prepare as prepare_step
from diskferry.producer.jobfile import parse
from diskferry.producer.planner import make_plan
from diskferry.tasks.app import make_app
from diskferry.tasks.base import runtime
from diskferry.tasks.replicate import MAX_RETRIES, _again
from diskferry.vault import new_key


def _one_vm_job(emulator: EmulatorProcess, broker_url: str, task_name: str) -> tuple[Settings, Task, Job]:
    """A seeded VM of one small disk, its job to one target planned and recorded, and the task
    ``task_name`` of an app with the fleet's settings (as a worker process has it)."""
    rg = f"trace-{uuid.uuid4().hex[:6]}"
    seed(emulator.env, SeedSpec.model_validate({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                                                "vms": [{"name": "vm0", "os_disk": 1}]}))
    settings = Settings.from_env({**emulator.env, "DISKFERRY_BROKER_URL": broker_url,
                                  "DISKFERRY_VAULT_KEY": new_key()})
    task = make_app(settings).tasks[task_name]
    rt = runtime(task)
    spec = parse({"source": {"resource_group": rg, "vms": ["vm0"]},
                  "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]})
    job = make_plan(spec, rt.cloud, rt.settings, job_id=naming.new_job_id()).job
    rt.store.create(job)
    return settings, task, job


def test_a_waiting_step_stores_no_retry_record_and_its_last_run_its_result(
        emulator: EmulatorProcess, redis_db: Callable[[], str], admin: AdminClient) -> None:
    settings, task, job = _one_vm_job(emulator, redis_db(), PREPARE)
    app, rt = task.app, runtime(task)
    source, target = job.sources[0], job.targets[0]
    admin.set(lro_latency_ops={"Microsoft.Compute/snapshots/write": 2.0}, lro_retry_after=1.0)
    # as in a worker process: a task's run sees the tracer's request (its stack protection)
    setup_worker_optimizations(app)
    trace = build_tracer(PREPARE, task, app=app, eager=False)
    task_id = str(uuid.uuid4())
    request = {"id": task_id, "delivery_info": {"routing_key": settings.queue, "exchange": ""}}
    try:
        # the snapshot is taken: the step waits, and its task is sent again with a countdown
        ran = trace(task_id, (job.id, source.key, target.key), {}, dict(request))
        assert ran.info is not None and ran.info.state == "RETRY"
        assert app.backend.get_task_meta(task_id)["status"] == "PENDING"  # no RETRY record, no traceback
        deadline = time.monotonic() + 30
        while True:
            ran = trace(task_id, (job.id, source.key, target.key), {}, dict(request, retries=1))
            if ran.info is None or ran.info.state != "RETRY":
                break
            assert time.monotonic() < deadline, "prepare still waiting"
            time.sleep(0.5)
        meta = app.backend.get_task_meta(task_id)
        assert meta["status"] == "SUCCESS" and meta["result"]["ok"] is True
    finally:
        reset_worker_optimizations(app)
        cleanup.cleanup_pair(rt, job, source, target)
        assert admin.leftovers(job.id) == []
        rt.store.delete(job.id)


@pytest.mark.parametrize(("error", "waited_out"), [
    (ConnectionFailed("ConnectionError", "management.azure.com did not answer"), True),
    (AzureUnavailable("EntraUnavailable", "Entra ID could not issue a token"), True),
    (RetryLater("InternalServerError", "the same 500, thirty times over"), False),
])
def test_an_outage_is_waited_out_past_the_retry_limit(redis_db: Callable[[], str], error: RetryLater,
                                                       waited_out: bool) -> None:
    """A step has had its MAX_RETRIES transient errors: one more of its own gives up (the pair
    fails); an outage (ARM or Entra ID down for longer than those retries) is still waited out."""
    url = redis_db()
    app = make_app(Settings.from_env({"DISKFERRY_BROKER_URL": url, "DISKFERRY_VAULT_KEY": new_key()}))
    task = app.tasks[PREPARE]
    task.push_request(id="prepare-1", args=("job", "src", "tgt"), kwargs={}, retries=MAX_RETRIES,
                      called_directly=False, delivery_info={"routing_key": "diskferry"})
    try:
        if waited_out:
            with pytest.raises(Retry) as retry:
                _again(task, error, "prepare", "job", "src", "tgt")
            assert retry.value.when is not None  # a countdown, backing off
        else:
            assert _again(task, error, "prepare", "job", "src", "tgt") is error
    finally:
        task.pop_request()


def test_what_holds_a_step_up_is_recorded_for_status_and_removed_once_it_gets_past(
        redis_db: Callable[[], str]) -> None:
    """A step sent back by an outage or a 429 says so in its pair's record (``status`` shows it);
    its next run that only waits for Azure's operation removes it in the same write."""
    url = redis_db()
    app = make_app(Settings.from_env({"DISKFERRY_BROKER_URL": url, "DISKFERRY_VAULT_KEY": new_key()}))
    task = app.tasks[PREPARE]
    store = runtime(task).store
    task.push_request(id="prepare-1", args=("job", "src", "tgt"), kwargs={}, retries=3, called_directly=False,
                      delivery_info={"routing_key": "diskferry"})
    try:
        secret = "https://acct.blob.core.windows.net/c/b.vhd?sv=2024&sig=c2VjcmV0"
        for error in (AzureUnavailable("EntraUnavailable", f"Entra ID answered 503 for {secret}"),
                      Throttled("TooManyRequests", "ARM's write budget is spent", 4.0)):
            with pytest.raises(Retry):
                _again(task, error, "prepare", "job", "src", "tgt")
            held = Held.of(store.target_state("job", "src", "tgt").get("held"))
            assert held is not None and (held.step, held.code) == ("prepare", error.code)
            assert held.at == pytest.approx(time.time(), abs=5) and "sig=" not in held.message
        with pytest.raises(Retry):
            _again(task, Waiting("OperationRunning", "the snapshot is being taken", 10.0), "prepare", "job", "src",
                   "tgt")
        assert "held" not in store.target_state("job", "src", "tgt")
    finally:
        task.pop_request()


def test_a_copy_held_up_by_azure_says_so_until_a_run_gets_through(
        emulator: EmulatorProcess, redis_db: Callable[[], str], admin: AdminClient) -> None:
    """Copy Blob answered 503 ServerBusy: the disk's record says what holds its copy up (the
    status shows it) while its task backs off; the run that starts the copy removes it."""
    settings, task, job = _one_vm_job(emulator, redis_db(), COPY_DISK)
    app, rt = task.app, runtime(task)
    source, target = job.sources[0], job.targets[0]
    disk = source.disks[0]
    setup_worker_optimizations(app)
    trace = build_tracer(COPY_DISK, task, app=app, eager=False)
    task_id = str(uuid.uuid4())
    request = {"id": task_id, "delivery_info": {"routing_key": settings.queue, "exchange": ""}}
    ids = (job.id, source.key, target.key, disk.key)
    try:
        assert prepare_step.prepare(rt, *ids[:3]).ok
        admin.set(copy_bandwidth=64 * 1024)  # the copy, once started, runs for a while
        rule = admin.add_fault("blob.CopyBlob", status=503, code="ServerBusy", count=-1)["id"]
        ran = trace(task_id, ids, {}, dict(request))
        assert ran.info is not None and ran.info.state == "RETRY"
        held = rt.store.status(job.id).disks()[0].held
        assert held is not None and (held.step, held.code) == ("copy", "ServerBusy")
        admin.remove_fault(rule)
        trace(task_id, ids, {}, dict(request, retries=1))  # starts the copy and parks it
        status = rt.store.status(job.id)
        assert status.disks()[0].phase is Phase.copying and status.disks()[0].held is None
    finally:
        reset_worker_optimizations(app)
        admin.set(copy_bandwidth=0)
        cleanup.cleanup_pair(rt, job, source, target)
        assert admin.leftovers(job.id) == []
        rt.store.delete(job.id)
