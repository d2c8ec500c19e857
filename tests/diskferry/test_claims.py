"""Claims on source resources, against a real Redis: all or nothing, refused while the holder
runs, taken over once it ended or its record is gone, released by the holder only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from diskferry import claims
from diskferry.errors import JobFailed
from diskferry.model import Consistency, Job, Options, Phase
from diskferry.state import JobStore
from tests.diskferry import factories


@pytest.fixture
def store(redis_url: str) -> Iterator[JobStore]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield JobStore(client, ttl_seconds=600)
    for key in client.scan_iter(match=f"{JobStore.CLAIM_PREFIX}*"):
        client.delete(key)
    client.close()


def _job(job_id: str, consistency: Consistency, vm: str = "web-1") -> Job:
    job = factories.job(sources=[factories.vm_source(vm)], job_id=job_id)
    job.options = Options(consistency=consistency)
    return job


def test_what_a_job_holds_alone() -> None:
    dealloc = _job("claim0000001", Consistency.deallocate)
    source = dealloc.sources[0]
    assert claims.resources(dealloc, source) == [source.resource_id, *(d.resource_id for d in source.disks)]
    assert claims.resources(_job("claim0000002", Consistency.none), source) == [d.resource_id for d in source.disks]
    assert claims.resources(_job("claim0000003", Consistency.snapshot), source) == []


def test_a_running_holder_refuses_the_second_job_with_its_id(store: JobStore) -> None:
    first, second = _job("claim0000011", Consistency.deallocate), _job("claim0000012", Consistency.none)
    claims.take(store, first)
    store.create(first)
    with pytest.raises(JobFailed) as err:
        claims.take(store, second)
    assert err.value.code == "SourceInUse"
    assert "claim0000011" in err.value.message and "diskferry cancel claim0000011" in err.value.message
    # nothing of the second job was claimed, and the first holds all it had
    source = first.sources[0]
    assert {store.claim_holder(r) for r in claims.resources(first, source)} == {first.id}
    # released when its source's cleanup ends: the second job may go
    claims.release(store, first, source)
    claims.take(store, second)
    assert {store.claim_holder(r) for r in claims.resources(second, source)} == {second.id}
    store.delete(first.id)


def test_release_drops_only_the_holders_claims(store: JobStore) -> None:
    first, other = _job("claim0000021", Consistency.deallocate), _job("claim0000022", Consistency.deallocate)
    claims.take(store, first)
    claims.release(store, other, first.sources[0])
    assert store.claim_holder(first.sources[0].resource_id) == first.id


@pytest.mark.parametrize("holder_state", ["lost", "ended"])
def test_a_stale_claim_is_taken_over(store: JobStore, holder_state: str) -> None:
    holder, second = _job("claim0000031", Consistency.deallocate), _job("claim0000032", Consistency.deallocate)
    claims.take(store, holder)
    if holder_state == "ended":
        store.create(holder)
        source = holder.sources[0]
        for target in holder.targets:
            for disk in source.disks:
                store.update_disk(holder.id, source.key, target.key, disk.key, phase=Phase.succeeded)
            store.update_target(holder.id, source.key, target.key, phase=Phase.succeeded, cleaned=True)
    claims.take(store, second)
    assert store.claim_holder(second.sources[0].resource_id) == second.id
    store.delete(holder.id)
