"""Views of the CLI: the status summary, totals that stay a screenful whatever the job's size
(every disk only with ``--disks``); tables whose ids an operator copies stay whole."""

from __future__ import annotations

import io
import time
from dataclasses import asdict

from rich.console import Console, RenderableType

from diskferry.model import Held, Phase
from diskferry.producer import views
from diskferry.producer.progress import live_view
from diskferry.producer.views import list_table
from diskferry.state import JobStore, JobSummary
from tests.diskferry import factories
from tests.producer.synthetic import GIB, many_disks


def text(renderable: RenderableType) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(renderable)
    out = console.file.getvalue()
    assert isinstance(out, str)
    return out


def test_totals_add_up_disks_by_phase_bytes_and_rate(store: JobStore) -> None:
    job = many_disks(store, 50)
    status = store.status(job.id)
    disks = status.disks()
    acc = views.totals(disks)
    assert acc.disks == 100
    assert acc.phases == {p: sum(d.phase is p for d in disks) for p in Phase if any(d.phase is p for d in disks)}
    running = [d for d in disks if d.phase is Phase.copying]
    assert acc.rate == sum(d.rate or 0 for d in running)
    assert acc.eta == max(d.eta or 0 for d in running)
    succeeded = sum(d.phase is Phase.succeeded for d in disks)
    assert acc.bytes_copied == sum(d.bytes_copied for d in running) + succeeded * 32 * GIB
    per_target = views.per_target(status)
    assert sorted(per_target) == ["brazilsouth/br-rg", "westeurope/we-rg"]
    assert sum(t.disks for t in per_target.values()) == 100


def test_summary_stays_short_and_names_every_failure(store: JobStore) -> None:
    job = many_disks(store, 300)
    status = store.status(job.id)
    failed = [d for d in status.disks() if d.phase is Phase.failed]
    out = text(views.summary(status))
    lines = out.splitlines()
    # headline, two target rows, at most SUMMARY_SOURCES sources, one line per failure (+ table frames)
    assert len(lines) < 20 + 2 + views.SUMMARY_SOURCES + len(failed) + 20
    assert "brazilsouth/br-rg" in out and "westeurope/we-rg" in out
    assert out.count("unreadable") == len(failed) > 0
    assert "more source(s)" in out and "--disks" in out
    every = text(views.status_table(status))
    assert all(f"vm{i:04}" in every for i in range(300))


def test_busiest_are_the_fastest_running_copies(store: JobStore) -> None:
    status = store.status(many_disks(store, 40).id)
    top = views.busiest(status, 5)
    rates = sorted((d.rate or 0 for d in status.disks() if d.phase is Phase.copying), reverse=True)
    assert [d.rate for _, d in top] == rates[:5]
    assert all(d.phase is Phase.copying for _, d in top)


def test_list_shows_job_ids_whole_on_a_narrow_terminal() -> None:
    jobs = [JobSummary(f"{i:012x}", 0.0, 0.0, Phase.succeeded, 1, 2, 3, 3, 0) for i in (0xABCDEF012345, 7)]
    console = Console(width=40, record=True)

    console.print(list_table(jobs))

    text = console.export_text()
    assert "abcdef012345" in text
    assert "000000000007" in text


def test_a_rebuilt_vm_shows_as_its_pairs_result_in_summary_table_and_json(store: JobStore) -> None:
    """The VM is a result of its pair: name, id and power state, with its disks at their LUNs;
    a refused VM shows Azure's error and its kept disks."""
    job = factories.job([factories.vm_source("app", data_disks=1)])
    store.create(job)
    (source,), (made, refused) = job.sources, job.targets
    vm_id = f"/subscriptions/s/resourceGroups/{made.resource_group}/providers/Microsoft.Compute/virtualMachines/app-vm"
    for target in job.targets:
        for disk in source.disks:
            store.update_disk(job.id, source.key, target.key, disk.key, phase="succeeded",
                              result_name=f"app-{disk.key}-{target.region}", result_id=f"/x/{disk.key}")
    store.update_target(job.id, source.key, made.key, phase="succeeded", vm_name="app-vm", vm_id=vm_id,
                        vm_power="deallocated")
    store.update_target(job.id, source.key, refused.key, phase="failed", vm_name="app-z3",
                        error={"code": "SkuNotAvailable", "message": "not in zone 3"})
    status = store.status(job.id)

    summary = text(views.summary(status))
    assert "VMs" in summary and vm_id in summary and "deallocated" in summary
    assert f"OS: app-os-{made.region}, 0: app-lun0-{made.region}" in summary
    assert "SkuNotAvailable: not in zone 3" in summary
    every = text(views.status_table(status))
    assert "app-vm (deallocated)" in every and "app-z3: not made" in every
    pair = asdict(status)["sources"][0]["targets"][0]
    assert (pair["vm_name"], pair["vm_id"], pair["vm_power"]) == ("app-vm", vm_id, "deallocated")


def test_what_holds_the_job_up_is_said_in_the_summary_the_disk_list_and_the_live_view(store: JobStore) -> None:
    """An outage shows as what it is: the steps it holds up, grouped by step and Azure's code,
    with the latest message, in the summary; each held disk in ``--disks``; a line in the live
    view. Once the job is over, nothing is held."""
    job = factories.job([factories.vm_source(f"vm{i}", data_disks=0) for i in range(3)])
    store.create(job)
    t1, t2 = job.targets
    now = time.time()
    for i, source in enumerate(job.sources):
        store.update_target(job.id, source.key, t1.key, phase=Phase.preparing,
                            held=Held("prepare", "EntraUnavailable", f"Entra ID answered 503 ({i})", now - 10 + i))
    store.update_target(job.id, job.sources[0].key, t2.key, phase=Phase.copying)
    store.update_disk(job.id, job.sources[0].key, t2.key, "os", phase=Phase.copying,
                      held=Held("copy", "ServerBusy", "the account is busy", now))
    store.hold_watcher(job.id, t2.key, Held("watch", "ConnectionError", "no answer", now))
    status = store.status(job.id)

    summary = text(views.summary(status))
    assert "held up (3)" in summary
    assert "prepare of 3 pair(s): EntraUnavailable, for 10 s, last 8 s ago: Entra ID answered 503 (2)" in summary
    assert "copy of 1 disk(s): ServerBusy" in summary
    assert f"copy watcher of {t2.region}/{t2.resource_group}: ConnectionError" in summary
    every = text(views.status_table(status))
    assert every.count("prepare held up: EntraUnavailable") == 3 and "held up: ServerBusy" in every
    live = text(live_view(status))
    assert "held up: prepare of 3 pair(s): EntraUnavailable; " in live
    assert asdict(status)["sources"][0]["targets"][0]["held"]["code"] == "EntraUnavailable"

    for source in job.sources:
        for target in job.targets:
            store.update_target(job.id, source.key, target.key, phase=Phase.succeeded)
    store.update_disk(job.id, job.sources[0].key, t2.key, "os", phase=Phase.succeeded)
    # every disk has its outcome; a cleanup that an outage holds up still shows, until it ran
    store.update_target(job.id, job.sources[0].key, t1.key,
                        held=Held("cleanup", "ConnectionError", "management.azure.com did not answer", now))
    (cleanup,) = views.held_up(store.status(job.id))
    assert cleanup.short() == "cleanup of 1 pair(s): ConnectionError"
    for source in job.sources:
        for target in job.targets:
            store.update_target(job.id, source.key, target.key, cleaned=True)
    assert views.held_up(store.status(job.id)) == []


def test_snapshots_azure_still_copies_in_the_background_are_named_in_the_summary(store: JobStore) -> None:
    """A Premium SSD v2 or Ultra disk's snapshot is copied by Azure for hours before it can be
    read: the summary says which and how far, so a job in prepare does not look stuck."""
    job = factories.job([factories.vm_source("db", data_disks=2)])
    store.create(job)
    source = job.sources[0]
    for target in job.targets:
        store.update_target(job.id, source.key, target.key, phase=Phase.preparing)
    store.update_source(job.id, source.key, **{"background|lun0": 42.5, "background|lun1": 7.0})
    status = store.status(job.id)
    assert status.sources[0].background == {"lun0": 42.5, "lun1": 7.0}
    summary = text(views.summary(status))
    assert "snapshots Azure still copies in the background before they can be read (2): " \
           "vm db disk lun0 42.5 %, vm db disk lun1 7 %" in summary, summary
    assert asdict(status)["sources"][0]["background"] == {"lun0": 42.5, "lun1": 7.0}
    store.update_source(job.id, source.key, **{"background|lun0": None, "background|lun1": None})
    assert "background" not in text(views.summary(store.status(job.id)))
