"""The live view: small whatever the job's size, redrawn only when the record changed and
within its share of a core."""

from __future__ import annotations

import io

from rich.console import Console

from diskferry.model import Phase
from diskferry.producer.follow import Snapshot
from diskferry.producer.progress import BUSIEST, JobProgress, live_view
from diskferry.state import JobStore
from tests.producer.synthetic import many_disks


def _console() -> Console:
    return Console(file=io.StringIO(), width=160, force_terminal=True, color_system=None)


def test_the_view_shows_targets_and_the_busiest_copies_only(store: JobStore) -> None:
    status = store.status(many_disks(store, 200).id)
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(live_view(status))
    out = console.file.getvalue()
    assert isinstance(out, str)
    assert "brazilsouth/br-rg" in out and "westeurope/we-rg" in out
    running = sum(d.phase is Phase.copying for d in status.disks())
    assert f"busiest copies ({BUSIEST} of {running} running)" in out
    assert sum(f"vm{i:04}" in out for i in range(200)) <= BUSIEST
    assert len(out.splitlines()) < 30


def test_redrawn_only_when_the_record_changed(store: JobStore) -> None:
    job = many_disks(store, 5)
    snap = Snapshot(store, job.id)
    with JobProgress(_console(), cpu_share=1.0) as view:
        view.update(snap.status)
        view.update(snap.status)
        assert view.redraws == 1
        d = snap.status.disks()[0]
        store.update_disk(job.id, d.source, d.target, d.key, bytes_copied=12345)
        assert snap.refresh()
        view.update(snap.status)
        assert view.redraws == 2 and view.cpu > 0


def test_redraws_wait_to_stay_within_their_share_of_a_core(store: JobStore) -> None:
    job = many_disks(store, 5)
    snap = Snapshot(store, job.id)
    with JobProgress(_console(), cpu_share=1e-9) as view:
        view.update(snap.status)
        d = snap.status.disks()[0]
        store.update_disk(job.id, d.source, d.target, d.key, bytes_copied=12345)
        assert snap.refresh()
        view.update(snap.status)
        assert view.redraws == 1
