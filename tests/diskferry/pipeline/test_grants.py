"""The shared read SAS of a source disk: one grant for every target that needs a new one.

The coordination runs against real Redis and the local Azure: several copies (threads, as
workers would be processes) asking at once for a SAS newer than the one that failed them
make exactly one ``beginGetAccess``; a SAS too short for a copy is renewed before the copy
starts, unless that would cut off another target's copy that can still finish on it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from diskferry import naming
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from diskferry.errors import Busy, Waiting
from diskferry.model import Disk, ExportKind, Job, Phase, Source, SourceKind
from diskferry.pipeline import grants
from diskferry.pipeline.runtime import Runtime, export_field, sas_name
from diskferry.vault import VaultEntry
from tests.conftest import Clients
from tests.diskferry import factories
from tests.diskferry.pipeline.runtimes import runtime_for
from tests.emulator.compute.helpers import empty_disk
from tests.fleet.checks import delta
from tests.waiting import wait_until

GIB = 1024**3
GRANT = "Microsoft.Compute/disks/beginGetAccess/action"


@dataclass
class Exported:
    rt: Runtime
    job: Job
    source: Source
    disk: Disk


@pytest.fixture
def exported(emulator: EmulatorProcess, redis_db: Callable[[], str], clients: Clients, rg: str) -> Iterator[Exported]:
    """A job whose one source disk (a real 1 GiB disk) is exported to four targets, with its
    first SAS (generation 1) in the vault, as ``prepare`` leaves it. At an assumed 256 MiB/s
    a copy of it is expected to take 4 s, and a fresh SAS lives 12 s."""
    rt = runtime_for(emulator, redis_db(), DISKFERRY_SAS_BANDWIDTH=str(256 * 1024 * 1024), DISKFERRY_SAS_MARGIN="3",
                     DISKFERRY_SAS_MIN_SECONDS="1")
    made = empty_disk(clients, rg)
    disk = Disk("os", str(made.name), str(made.id), ExportKind.disk, GIB, "Standard_LRS", os_type="Linux")
    vm_id = str(made.id).replace("/disks/", "/virtualMachines/")
    source = Source(naming.source_key(SourceKind.vm, rg, "vm"), SourceKind.vm, clients.subscription_id, rg, "vm",
                    "francecentral", vm_id, [disk])
    job_id = uuid.uuid4().hex[:12]
    targets = [factories.target(region, f"{region}-rg", job_id)
               for region in ("brazilsouth", "westeurope", "eastus", "japaneast")]
    job = factories.job([source], targets, job_id=job_id)
    rt.store.create(job)
    rt.store.update_source(job.id, source.key, **{export_field("os"): {"id": disk.resource_id, "granted": True}})
    while (first := grants.grant(rt, job, source, disk, disk.resource_id)) is None:
        time.sleep(0.05)  # Azure is still granting: what the task's countdown does
    assert first.generation == 1
    yield Exported(rt, job, source, disk)
    rt.vault.delete(job.id, sas_name(source.key, disk.key))
    rt.store.delete(job.id)
    if (revoking := rt.cloud.compute.revoke(disk.resource_id)) is not None:
        rt.cloud.compute.wait(revoking)
    clients.resource.resource_groups.begin_delete(rg).result()


def _ask(e: Exported, target_index: int, newer_than: int) -> VaultEntry:
    """What a copy task does: ask, and come back later while another worker grants."""
    def answered() -> VaultEntry | None:
        try:
            return grants.sas_for(e.rt, e.job, e.source, e.job.targets[target_index], e.disk, newer_than=newer_than)
        except (Busy, Waiting):
            return None

    return wait_until(answered, 30, "still busy after 30 s: the granting worker never finished", interval=0.02)


def test_many_copies_failed_by_one_sas_get_one_new_grant(exported: Exported, admin: AdminClient) -> None:
    before = admin.counters()
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: _ask(exported, i % 4, newer_than=1), range(8)))
    assert {e.generation for e in got} == {2}
    assert len({e.secret for e in got}) == 1
    assert delta(before, admin.counters()).get(GRANT) == 1
    export = exported.rt.store.source_state(exported.job.id, exported.source.key)[export_field("os")]
    assert (export["sas_generation"], export["regrants"]) == (2, 1)
    # the new SAS is sized to the whole disk (a restarted copy reads it from byte 0) and kept
    # in the vault no longer than it lives (its lifetime runs from the grant's answer: a slow
    # answer on a loaded machine takes a second or two off the 12 s asked)
    assert 9 <= got[0].lifetime <= 12
    ttl = exported.rt.vault.ttl(exported.job.id, sas_name(exported.source.key, "os"))
    assert ttl is not None and ttl <= 12

    # a copy that started on generation 2 just before it was replaced is served, not granted
    before = admin.counters()
    assert _ask(exported, 0, newer_than=1).generation == 2
    assert _ask(exported, 0, newer_than=2).generation == 3  # a copy failed by generation 2
    assert delta(before, admin.counters()).get(GRANT) == 1


def _short_sas(e: Exported, left: float) -> VaultEntry:
    """Stand in for a 12 s SAS granted ``12 - left`` seconds ago (the SAS text is unused)."""
    now = time.time()
    return e.rt.vault.put(e.job.id, sas_name(e.source.key, "os"), "https://example.invalid/x?se=0", now + left,
                          granted_at=now + left - 12)


def test_a_sas_too_short_for_the_copy_is_renewed_before_it_starts(exported: Exported, admin: AdminClient) -> None:
    short = _short_sas(exported, left=2)  # < the 4 s the copy is expected to take
    before = admin.counters()
    got = _ask(exported, 0, newer_than=0)
    assert got.generation == short.generation + 1 and got.seconds_left() > 10
    assert delta(before, admin.counters()).get(GRANT) == 1
    # long enough: used as it is
    before = admin.counters()
    assert _ask(exported, 1, newer_than=0).generation == got.generation
    assert delta(before, admin.counters()).get(GRANT) is None


def test_no_renewal_ahead_that_would_cut_off_a_copy_able_to_finish(exported: Exported, admin: AdminClient) -> None:
    e = exported
    short = _short_sas(e, left=3)
    running = e.job.targets[1]
    e.rt.store.update_disk(e.job.id, e.source.key, running.key, "os", phase=Phase.copying,
                           sas_generation=short.generation, eta=1.0)
    before = admin.counters()
    assert _ask(e, 0, newer_than=0).generation == short.generation  # starts on the short SAS
    assert delta(before, admin.counters()).get(GRANT) is None
    # the other copy would not finish before the SAS expires anyway: renew
    e.rt.store.update_disk(e.job.id, e.source.key, running.key, "os", eta=30.0)
    assert _ask(e, 0, newer_than=0).generation == short.generation + 1
    assert delta(before, admin.counters()).get(GRANT) == 1


@pytest.mark.parametrize(
    ("left", "copy", "fresh", "renew"),
    [
        (3600, 100, 3600, False),  # lasts the copy
        (50, 100, 3600, True),  # will not last it; a fresh one would
        (2, 100, 3, False),  # Azure caps grants below the copy time: renewing gains nothing
        (0, 4, 4, True),
    ],
)
def test_renew_ahead(left: float, copy: float, fresh: float, renew: bool) -> None:
    assert grants.renew_ahead(left, copy, fresh) is renew


def test_sas_expiry_is_read_from_the_url() -> None:
    url = "https://h/md-x/abcd?sv=2018-03-28&sr=b&si=1&sig=abc%3D&se=2030-01-02T03%3A04%3A05Z&sp=r"
    assert grants.sas_expiry(url) == 1893553445.0
    with_fraction = "https://h/a?se=2030-01-02T03:04:05.5000000Z&sig=x"
    assert grants.sas_expiry(with_fraction) == 1893553445.5  # Azure writes 7 digits
    assert grants.sas_expiry("https://h/a?se=2030-01-02T03:04:05&sig=x") == 1893553445.0  # UTC when unzoned
    assert grants.sas_expiry("https://h/a?sig=x") is None
    assert grants.sas_expiry("https://h/a?se=soon&sig=x") is None
