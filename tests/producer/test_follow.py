"""Following a job: each round reads and rebuilds only what changed, and ends up equal to a
full read of the record."""

from __future__ import annotations

import json
import random
import threading

import pytest

from diskferry.errors import NotFound
from diskferry.model import Held, Phase
from diskferry.producer.follow import Snapshot, follow
from diskferry.state import JobStore
from tests.producer.synthetic import many_disks


def test_a_quiet_job_costs_no_rebuild(store: JobStore) -> None:
    job = many_disks(store, 20)
    snap = Snapshot(store, job.id)
    assert snap.status == store.status(job.id)
    assert snap.refresh() is False and snap.changed == 0


def test_changed_disks_are_rebuilt_and_the_snapshot_matches_a_full_read(store: JobStore) -> None:
    job = many_disks(store, 100)
    snap = Snapshot(store, job.id)
    rng = random.Random(3)
    for _ in range(5):
        open_disks = [d for d in snap.status.disks() if not d.phase.terminal]
        moved = rng.sample(open_disks, min(7, len(open_disks)))
        for d in moved:
            phase = rng.choice([Phase.copying, Phase.copied, Phase.succeeded, Phase.failed])
            store.update_disk(job.id, d.source, d.target, d.key, phase=phase, bytes_copied=d.bytes_copied + 1)
        assert snap.refresh() is True
        assert snap.changed == len(moved)
        assert snap.status == store.status(job.id)


def test_a_pair_change_is_seen(store: JobStore) -> None:
    job = many_disks(store, 10)
    snap = Snapshot(store, job.id)
    source, target = job.sources[0], job.targets[0]
    store.update_target(job.id, source.key, target.key, phase=Phase.importing, image_name="img-1")
    assert snap.refresh() is True
    assert snap.status == store.status(job.id)
    assert snap.status.sources[0].targets[0].image_name == "img-1"


def test_what_holds_a_step_or_a_watcher_up_is_seen_and_so_is_its_end(store: JobStore) -> None:
    job = many_disks(store, 10)
    snap = Snapshot(store, job.id)
    source, target = job.sources[0], job.targets[0]
    store.update_target(job.id, source.key, target.key, phase=Phase.preparing,
                        held=Held("prepare", "EntraUnavailable", "503", 1.0))
    store.hold_watcher(job.id, target.key, Held("watch", "ServerBusy", "listing refused", 2.0))
    assert snap.refresh() is True
    assert snap.status == store.status(job.id)
    assert snap.status.sources[0].targets[0].held is not None and len(snap.status.watchers_held) == 1
    store.hold_watcher(job.id, target.key, None)
    assert snap.refresh() is True
    assert snap.status.watchers_held == {} and snap.status == store.status(job.id)


def test_pair_and_source_changes_rebuild_only_those_pairs(store: JobStore) -> None:
    """In a bulk job's ramp and wind-down some pair changes in nearly every round: each round
    rebuilds those pairs (with their disks) and sources, not the whole job."""
    job = many_disks(store, 100)
    snap = Snapshot(store, job.id)
    rng = random.Random(11)
    for _ in range(6):
        pairs = rng.sample([(s, t) for s in job.sources for t in job.targets], 3)
        for source, target in pairs:
            store.update_target(job.id, source.key, target.key, phase=rng.choice([Phase.copying, Phase.failed]),
                                cleaned=rng.random() < 0.5, error={"code": "X", "message": "m"})
            store.update_disk(job.id, source.key, target.key, source.disks[0].key, phase=Phase.copied)
        failing = rng.choice(job.sources)
        store.update_source(job.id, failing.key, cleanup_error={"code": "VmNotStarted", "message": "m"})
        assert snap.refresh() is True
        assert snap.changed == sum(len(source.disks) for source, _ in pairs)
        assert snap.status == store.status(job.id)


def test_follow_ends_when_the_job_is_done_and_cleaned(store: JobStore) -> None:
    job = many_disks(store, 3)
    for source in job.sources:
        for target in job.targets:
            store.update_disk(job.id, source.key, target.key, "os", phase=Phase.succeeded)
            store.update_target(job.id, source.key, target.key, phase=Phase.succeeded, cleaned=True)
    seen = list(follow(job.id, interval=0.01, store=store, timeout=5))
    assert len(seen) == 1 and seen[0].done and seen[0].cleaned


def test_an_expired_job_stops_the_follower(store: JobStore) -> None:
    job = many_disks(store, 2)
    snap = Snapshot(store, job.id)
    store.delete(job.id)
    with pytest.raises(NotFound):
        snap.refresh()


def test_writes_during_refreshes_are_never_lost(store: JobStore) -> None:
    """A writer busy with disks and pairs while the follower refreshes: once it stops, one
    more refresh matches a full read (a change between two reads must not be skipped)."""
    job = many_disks(store, 30)
    snap = Snapshot(store, job.id)
    stop = threading.Event()

    def write() -> None:
        rng = random.Random(5)
        while not stop.is_set():
            source, target = rng.choice(job.sources), rng.choice(job.targets)
            if rng.random() < 0.7:
                store.update_target(job.id, source.key, target.key, image_name=f"img-{rng.randint(0, 99)}")
            else:
                store.update_disk(job.id, source.key, target.key, "os", bytes_copied=rng.randint(0, 10**9))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for _ in range(300):
            snap.refresh()
    finally:
        stop.set()
        writer.join()
    snap.refresh()
    assert snap.status == store.status(job.id)


def test_a_round_reads_only_the_fields_changed_since_the_last(store: JobStore) -> None:
    """The record logs which fields each update changed: a follower of 2,000 disks reads the few
    that moved, not every open disk to compare it."""
    job = many_disks(store, 100)
    seq = int(store.raw_fields(job.id, ["seq"])["seq"] or 0)
    source, target = job.sources[3], job.targets[1]
    store.update_disk(job.id, source.key, target.key, source.disks[0].key, bytes_copied=5)
    store.update_target(job.id, source.key, target.key, phase=Phase.copying)
    store.update_disk(job.id, source.key, target.key, source.disks[0].key, bytes_copied=6)
    log = store.changes(job.id, seq)
    assert log.complete and log.seq == seq + 3
    assert sorted(log.fields) == sorted([f"disk|{source.key}|{target.key}|{source.disks[0].key}",
                                         f"tgt|{source.key}|{target.key}"])
    assert json.loads(log.fields[f"disk|{source.key}|{target.key}|{source.disks[0].key}"] or "{}")["bytes_copied"] == 6
    # housekeeping is not logged (nothing a view shows moved)
    store.update_disks(job.id, {f"tgt|{source.key}|{target.key}": {"prepare_due": 1.0}}, touch=False)
    assert store.changes(job.id, seq + 3).fields == {}


def test_a_follower_reads_the_whole_record_again_once_the_log_is_dropped(store: JobStore) -> None:
    job = many_disks(store, 20)
    snap = Snapshot(store, job.id)
    source, target = job.sources[0], job.targets[0]
    store.update_disk(job.id, source.key, target.key, source.disks[0].key, phase=Phase.succeeded)
    store.drop_changes(job.id)  # the job's `forget`, before the follower's next round
    assert snap.refresh() is True
    assert snap.status == store.status(job.id)
    store.update_target(job.id, source.key, target.key, cleaned=True)  # a late write, logged again
    assert snap.refresh() is True
    assert snap.status == store.status(job.id)


def test_a_part_reset_by_resume_is_seen(store: JobStore) -> None:
    job = many_disks(store, 10)
    source, target = job.sources[1], job.targets[0]
    store.update_target(job.id, source.key, target.key, phase=Phase.failed, error={"code": "X", "message": "m"})
    snap = Snapshot(store, job.id)
    store.reset(job.id, f"tgt|{source.key}|{target.key}", {"phase": Phase.pending})
    assert snap.refresh() is True
    assert snap.status == store.status(job.id)
    assert snap.status.sources[1].targets[0].error is None


def test_a_record_from_before_the_change_log_is_followed_by_comparing(store: JobStore) -> None:
    job = many_disks(store, 10)
    store._r.hdel(store.key(job.id), "seq")  # as written before the log existed
    snap = Snapshot(store, job.id)
    source, target = job.sources[2], job.targets[1]
    store.update_disk(job.id, source.key, target.key, source.disks[0].key, phase=Phase.copied)
    assert snap.refresh() is True
    assert snap.status == store.status(job.id)
