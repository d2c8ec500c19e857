from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator

import pytest
import redis

from diskferry import state
from diskferry.errors import NotFound
from diskferry.model import Error, Held, Phase
from diskferry.state import SAME_RESULT_ID, JobStore, result_disk_id, result_id_of
from tests.diskferry import factories


@pytest.fixture
def redis_url(redis_db: Callable[[], str]) -> str:
    """This module's own database (the name the tests below were written with)."""
    return redis_db()


@pytest.fixture
def store(redis_url: str) -> Iterator[JobStore]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield JobStore(client, ttl_seconds=600)
    client.close()


def test_create_and_read_back(store: JobStore) -> None:
    job = factories.job(job_id="state000001")
    store.create(job, {"source": {"vms": ["web-1"]}})
    assert store.job(job.id) == job
    # a source's ids in its own resource group are stored relative to it, and read back whole
    source = job.sources[0]
    (raw,) = store.raw_fields(job.id, [f"spec|{source.key}"]).values()
    assert raw is not None and source.resource_id not in raw and '"resource_id":"~/' in raw
    assert store.pair(job.id, source.key, job.targets[0].key).source == source
    st = store.status(job.id)
    assert st.phase is Phase.pending
    assert len(st.sources) == 1 and len(st.targets()) == 2 and len(st.disks()) == 6
    assert {d.bytes_total for d in st.disks()} == {d.size_bytes for d in job.sources[0].disks}
    store.delete(job.id)


def test_a_task_reads_its_pair_and_the_header_only(store: JobStore) -> None:
    sources = [factories.vm_source(f"vm{i}", data_disks=i % 3) for i in range(5)]
    job = factories.job(sources, job_id="state000009")
    store.create(job)
    vm3 = sources[3]
    pair = store.pair(job.id, vm3.key, job.targets[1].key)
    assert pair.job == job.header() and pair.source == vm3 and pair.target == job.targets[1]
    assert store.header(job.id) == job.header()
    # every pair through a job-made staging account is counted in the header
    assert sum(job.header().staging_pairs.values()) == len(job.pairs()) == 10
    with pytest.raises(KeyError):
        store.pair(job.id, "vm9", job.targets[0].key)
    with pytest.raises(NotFound):
        store.pair("nosuchjob00", vm3.key, job.targets[0].key)
    store.delete(job.id)


def test_concurrent_disk_updates_are_not_lost(store: JobStore) -> None:
    job = factories.job(job_id="state000002")
    store.create(job)
    src = job.sources[0]

    def work(target_key: str, disk_key: str) -> None:
        for i in range(1, 51):
            store.update_disk(job.id, src.key, target_key, disk_key, phase=Phase.copying, bytes_copied=i)

    threads = [threading.Thread(target=work, args=(t.key, d.key)) for t in job.targets for d in src.disks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    st = store.status(job.id)
    assert all(d.bytes_copied == 50 and d.phase is Phase.copying for d in st.disks())
    assert st.phase is Phase.copying
    store.delete(job.id)


def test_phases_errors_and_overall(store: JobStore) -> None:
    job = factories.job(job_id="state000003")
    store.create(job)
    src = job.sources[0]
    t1, t2 = job.targets
    store.update_disk(job.id, src.key, t1.key, "lun0", phase=Phase.failed, error=Error("CopyFailed", "boom"))
    store.update_target(job.id, src.key, t1.key, phase=Phase.failed)
    store.update_target(job.id, src.key, t2.key, phase=Phase.succeeded, image_name="img")
    st = store.status(job.id)
    assert st.phase is Phase.failed and st.done
    failed = [d for d in st.disks() if d.error]
    assert [(d.target, d.key, d.error) for d in failed] == [(t1.key, "lun0", Error("CopyFailed", "boom"))]
    # the merge keeps fields it was not given
    assert st.disks()[1].bytes_total == src.disks[1].size_bytes
    assert st.targets()[1].image_name == "img"
    store.delete(job.id)


def test_record_expires_and_list_drops_it(store: JobStore, redis_url: str) -> None:
    short = JobStore(redis.Redis.from_url(redis_url, decode_responses=True), ttl_seconds=1)
    job = factories.job(job_id="state000004")
    short.create(job)
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.ttl(JobStore.key(job.id)) <= 1
    assert job.id in [s.id for s in store.list()]
    client.delete(JobStore.key(job.id))  # what expiry does, without waiting for it
    assert job.id not in [s.id for s in store.list()]
    with pytest.raises(NotFound):
        store.status(job.id)


def test_update_refreshes_ttl(store: JobStore, redis_url: str) -> None:
    job = factories.job(job_id="state000005")
    store.create(job)
    client = redis.Redis.from_url(redis_url)
    client.expire(JobStore.key(job.id), 5)
    store.update_source(job.id, job.sources[0].key, phase=Phase.preparing)
    assert client.ttl(JobStore.key(job.id)) > 500
    store.delete(job.id)


def test_a_key_patched_to_none_is_removed(store: JobStore) -> None:
    job = factories.job(job_id="state000010")
    store.create(job)
    src, tgt = job.sources[0], job.targets[0]
    store.update_disk(job.id, src.key, tgt.key, "os", poll={"id": "t1", "chord": {"task": "x"}}, rate=5.0)
    store.update_disk(job.id, src.key, tgt.key, "os", poll=None, rate=None, phase=Phase.copied)
    state = store.disk_state(job.id, src.key, tgt.key, "os")
    assert "poll" not in state and "rate" not in state and state["phase"] == "copied"
    assert store.updated(job.id) is not None
    store.delete(job.id)


def test_dropping_keys_by_kind_of_field_keeps_the_rest_and_leaves_other_kinds_alone(store: JobStore) -> None:
    job = factories.job(job_id="state000011")
    store.create(job)
    src, (t1, t2) = job.sources[0], job.targets
    store.update_disk(job.id, src.key, t1.key, "os", poll={"id": "t1"}, poll_due=5.0, phase=Phase.succeeded)
    store.update_disk(job.id, src.key, t2.key, "os", phase=Phase.failed)
    store.update_target(job.id, src.key, t1.key, prepare={"id": "p1"}, cleaned=True)
    store.update_source(job.id, src.key, poll={"id": "not a disk's"})
    updated = store.updated(job.id)
    assert store.drop_keys(job.id, {"disk": ("poll", "poll_due"), "tgt": ("prepare",)}) == 2
    assert store.updated(job.id) == updated  # housekeeping, not an update of the job
    done = store.disk_state(job.id, src.key, t1.key, "os")
    assert done["phase"] == "succeeded" and not {"poll", "poll_due"} & done.keys()
    assert store.disk_state(job.id, src.key, t2.key, "os")["phase"] == "failed"
    pair = store.target_state(job.id, src.key, t1.key)
    assert pair["cleaned"] is True and "prepare" not in pair
    assert store.source_state(job.id, src.key)["poll"] == {"id": "not a disk's"}
    # the resolved job is untouched
    assert store.job(job.id) == job
    store.delete(job.id)


def test_sets_and_locks(store: JobStore) -> None:
    assert store.add_member("state000006", "finished:s", "t1") == {"t1"}
    assert store.add_member("state000006", "finished:s", "t1") == {"t1"}  # idempotent
    assert store.add_member("state000006", "finished:s", "t2") == {"t1", "t2"}
    assert store.count_member("state000006", "finished:s", "t2") == 2
    store.drop_set("state000006", "finished:s")
    assert store.members("state000006", "finished:s") == set()
    with store.lock("state000006", "prepare", 30) as first:
        assert first
        with store.lock("state000006", "prepare", 30) as second:
            assert not second
    with store.lock("state000006", "prepare", 30) as again:
        assert again
    store.delete("state000006")


def test_a_lock_held_in_a_dead_runs_name_is_taken_back_by_its_redelivery(store: JobStore) -> None:
    # the first run of task-1 took the lock and died holding it (its context never exited)
    first_run = store.lock("state000007", "prepare", 900, owner="task-1")
    assert first_run.__enter__()
    with store.lock("state000007", "prepare", 900, owner="task-2") as other:
        assert not other  # another task still waits for it
    with store.lock("state000007", "prepare", 900, owner="task-1") as redelivered:
        assert redelivered  # the same task, delivered again, goes on at once
    with store.lock("state000007", "prepare", 900, owner="task-2") as other:
        assert other  # and releasing it freed it for the others
    store.delete("state000007")


def test_a_result_id_the_name_makes_is_stored_as_a_mark_and_read_back_whole(store: JobStore) -> None:
    job = factories.job()
    store.create(job)
    source, target = job.sources[0], job.targets[0]
    disk = source.disks[0]
    made = result_disk_id(target, "app-os-br")
    assert made == (f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
                    "/providers/Microsoft.Compute/disks/app-os-br")
    store.update_disk(job.id, source.key, target.key, disk.key, phase=Phase.succeeded, result_name="app-os-br",
                      result_id=SAME_RESULT_ID)
    (status,) = [d for d in store.status(job.id).disks() if (d.target, d.key) == (target.key, disk.key)]
    assert status.result_id == made
    assert result_id_of(store.disk_state(job.id, source.key, target.key, disk.key), target) == made
    # an id that is not the name's stays as it is; no target, no id made up
    assert result_id_of({"result_id": "/x/y", "result_name": "app-os-br"}, target) == "/x/y"
    assert result_id_of({"result_id": SAME_RESULT_ID, "result_name": "app-os-br"}, None) is None


def test_housekeeping_of_the_job_as_a_whole_leaves_its_last_update(store: JobStore) -> None:
    job = factories.job(job_id="state000012")
    store.create(job)
    updated = store.updated(job.id)
    # the watchdog's notes (its due time, what progress it saw): `list` keeps showing when the
    # job itself last changed
    store.update_job(job.id, watchdog_due=1.0, progress="x", touch=False)
    assert store.updated(job.id) == updated
    assert store.meta(job.id)["progress"] == "x"
    store.update_job(job.id, cancel={"by": "test"})
    assert (store.updated(job.id) or 0) > (updated or 0)
    store.delete(job.id)


def test_what_holds_a_step_up_is_read_back_while_the_step_is_the_pairs(store: JobStore) -> None:
    """A pair's, a disk's and a watcher's held-up records are shown while their step is still
    going: a prepare's not once the pair copies, a cleanup's not once it ran, a disk's not once
    it ended, any of them once removed."""
    job = factories.job(job_id="state000011")
    store.create(job)
    src = job.sources[0]
    t1, t2 = job.targets
    entra = Held("prepare", "EntraUnavailable", "Entra ID answered 503", 100.0)
    busy = Held("copy", "ServerBusy", "the account is busy", 101.0)
    store.update_target(job.id, src.key, t1.key, phase=Phase.preparing, held=entra)
    store.update_disk(job.id, src.key, t2.key, "os", phase=Phase.copying, held=busy)
    store.hold_watcher(job.id, t2.key, Held("watch", "ConnectionError", "no answer", 102.0))
    st = store.status(job.id)
    assert [(t.key, t.held) for t in st.targets()] == [(t1.key, dataclasses.replace(entra, since=100.0)),
                                                        (t2.key, None)]
    # the next error keeps when the first began (the task that meets it does not read the record)
    store.update_target(job.id, src.key, t1.key, held=Held("prepare", "ConnectionError", "no answer", 130.0))
    assert store.status(job.id).targets()[0].held == Held("prepare", "ConnectionError", "no answer", 130.0, 100.0)
    # another step's run of errors begins anew
    store.update_target(job.id, src.key, t1.key, held=Held("finalize", "ConnectionError", "no answer", 140.0))
    assert store.status(job.id).targets()[0].held is None  # (the pair is still preparing: not finalize's)
    assert Held.of(store.target_state(job.id, src.key, t1.key)["held"]) == Held("finalize", "ConnectionError",
                                                                                 "no answer", 140.0, 140.0)
    store.update_target(job.id, src.key, t1.key, held=entra)
    assert [(d.target, d.key) for d in st.disks() if d.held == dataclasses.replace(busy, since=101.0)] == [
        (t2.key, "os")]
    assert st.watchers_held == {f"{t2.region}/{t2.resource_group}": Held("watch", "ConnectionError", "no answer",
                                                                         102.0, 102.0)}
    # the prepare got past it some other way than its own writes: its record is not the pair's
    store.update_target(job.id, src.key, t1.key, phase=Phase.copying)
    store.update_disk(job.id, src.key, t2.key, "os", phase=Phase.failed, error=Error("CopyFailed", "x"))
    store.hold_watcher(job.id, t2.key, None)
    st = store.status(job.id)
    assert all(t.held is None for t in st.targets()) and all(d.held is None for d in st.disks())
    assert st.watchers_held == {}
    # a cleanup's, until the pair is cleaned
    store.update_target(job.id, src.key, t1.key, phase=Phase.failed, held=Held("cleanup", "InternalError", "", 1.0))
    assert store.status(job.id).targets()[0].held is not None
    store.update_target(job.id, src.key, t1.key, cleaned=True)
    assert store.status(job.id).targets()[0].held is None
    store.delete(job.id)


def test_the_fleet_learns_how_long_a_kind_of_operation_takes(store: JobStore) -> None:
    """Its shortest operations, at once; a longer one raises it by a share; one seen ended at the
    check made once the length passed says nothing new. An ended operation is forgotten."""
    def learned() -> float | None:
        return store.typical("grant")

    store.put_operation("j1", "grant|a", {"what": "grant"})
    assert (store.operation("j1", "grant|a"), learned()) == ({"what": "grant"}, None)
    store.end_operation("j1", "grant|a", "grant", 40.0, first_check=False)
    assert (store.operation("j1", "grant|a"), learned()) == (None, 40.0)
    store.end_operation("j2", "grant|b", "grant", 30.0, first_check=False)  # another job's: the fleet's
    assert learned() == 30.0
    store.end_operation("j2", "grant|c", "grant", 38.0, first_check=True)
    assert learned() == 30.0
    store.end_operation("j2", "grant|d", "grant", 38.0, first_check=False)
    assert learned() == pytest.approx(30.0 + 8.0 * state.LEARN_UP)
    assert store.typical("snapshot") is None  # by kind
