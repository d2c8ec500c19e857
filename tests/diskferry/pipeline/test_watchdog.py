"""The job's watchdog decides which tasks are lost from the job record and the stored results,
in a number of Redis round trips that does not grow with the job."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Job
from diskferry.pipeline import watchdog
from diskferry.pipeline.runtime import Runtime
from tests.diskferry import factories
from tests.diskferry.pipeline.runtimes import runtime_for

OVERDUE_AFTER = 30.0


def _running_job(rt: Runtime, vms: int) -> Job:
    """``vms`` one-disk VMs to two targets, every pair prepared and every copy parked, due in a
    minute (nothing lost)."""
    job = factories.job([factories.vm_source(f"vm{i:04}", data_disks=0) for i in range(vms)],
                        job_id=uuid.uuid4().hex[:12])
    rt.store.create(job)
    now = time.time()
    patches: dict[str, dict[str, Any]] = {}
    for source in job.sources:
        for target in job.targets:
            patches[f"tgt|{source.key}|{target.key}"] = {"phase": "copying",
                                                         "prepare": {"id": f"p-{source.key}-{target.key}"}}
            patches[f"disk|{source.key}|{target.key}|os"] = {
                "phase": "copying", "poll_due": now + 60, "poll_first": now - 5,
                "poll": {"id": f"c-{source.key}-{target.key}", "group": "g", "group_index": 0, "chord": {"task": "f"}},
            }
    rt.store.update_disks(job.id, patches)
    return job


class Counted:
    """The store's Redis commands and the calls of ``ready``, counted."""

    def __init__(self, rt: Runtime, monkeypatch: pytest.MonkeyPatch, ready_ids: set[str]) -> None:
        self.commands = 0
        self.asked: list[list[str]] = []
        self._ready_ids = ready_ids
        client = rt.store._r  # the test counts what the store sends
        send: Callable[..., Any] = client.execute_command

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.commands += 1
            return send(*args, **kwargs)

        monkeypatch.setattr(client, "execute_command", counting)

    def ready(self, task_ids: list[str]) -> set[str]:
        self.asked.append(task_ids)
        return self._ready_ids & set(task_ids)


@pytest.fixture
def rt(emulator: EmulatorProcess, redis_db: Callable[[], str]) -> Runtime:
    return runtime_for(emulator, redis_db())


@pytest.mark.parametrize("vms", [10, 100])
def test_a_round_reads_the_record_once_and_asks_about_results_once(
        rt: Runtime, monkeypatch: pytest.MonkeyPatch, vms: int) -> None:
    job = _running_job(rt, vms)
    counted = Counted(rt, monkeypatch, ready_ids={f"p-{s.key}-{t.key}" for s, t in job.pairs()})
    over, lost = watchdog.sweep(rt, job.id, counted.ready, OVERDUE_AFTER)
    assert (over, lost) == (False, [])
    # the same few commands at 20 and at 200 pairs (the resolved job, the record's fields)
    assert counted.commands <= 4, counted.commands
    assert len(counted.asked) == 1 and len(counted.asked[0]) == 2 * 2 * vms


def test_a_poll_overdue_and_not_counted_is_lost_and_its_resend_recorded(
        rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    job = _running_job(rt, 3)
    source, target = job.sources[1], job.targets[0]
    rt.store.update_disk(job.id, source.key, target.key, "os", poll_due=time.time() - OVERDUE_AFTER - 5)
    # every copy's result but the overdue one's is stored: those were counted by their chords
    counted = Counted(rt, monkeypatch, ready_ids={f"p-{s.key}-{t.key}" for s, t in job.pairs()}
                      | {f"c-{s.key}-{t.key}" for s, t in job.pairs() if (s, t) != (source, target)})
    over, lost = watchdog.sweep(rt, job.id, counted.ready, OVERDUE_AFTER)
    assert not over
    assert [(o.step, o.source, o.target, o.disk, o.record["id"]) for o in lost] == [
        ("copy", source.key, target.key, "os", f"c-{source.key}-{target.key}")]
    state = rt.store.disk_state(job.id, source.key, target.key, "os")
    assert state["resent"] == 1 and state["poll_due"] > time.time() - 5
    # the next round waits a whole overdue_after again
    assert watchdog.sweep(rt, job.id, counted.ready, OVERDUE_AFTER)[1] == []
