"""The fault matrix (``tests/fleet/faultcases.py``), end to end: real workers, real Redis, the
local Azure giving each case's fault to that case's own source only.

A run is one job holding several cases (a source each) and, where it can, a source with no
fault at all: each case must end as the table says — retried and succeeded, or that disk
failed with Azure's code — while the others went on; whatever happened, the job leaves
nothing behind. Each case's outcome is recorded for ``docs/reliability.md``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import Seeded
from diskferry.model import Phase, SourceKind
from diskferry.naming import source_key
from diskferry.state import JobStatus, SourceStatus
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_image_content, assert_same_content
from tests.fleet.conftest import Fleet
from tests.fleet.faultcases import (
    CASES,
    DEFAULT_RUNS,
    REGION,
    STAGING_RUNS,
    FaultCase,
    Run,
    cases_of,
    rules_for,
    vm_name,
)
from tests.fleet.sources import unique_rg
from tests.reliability import CaseRecord, record_case
from tests.waiting import wait_until

#: slow enough that a copy fault at N % lands mid-copy (1 MiB of data per disk)
COPY_BANDWIDTH = 2 * 1024 * 1024
#: the source with no fault, in every run that can have one
CALM = "calm"
#: the second target of the staging run, which must not notice the first one's loss
OTHER_REGION = "brazilsouth"

RUNS: list[Any] = [
    pytest.param(run, id=run, marks=() if run in DEFAULT_RUNS else (pytest.mark.slow, pytest.mark.timeout(400)))
    for run in dict.fromkeys(c.run for c in CASES)
]


def _seed(fleet: Fleet, rg: str, run: Run, cases: list[FaultCase]) -> dict[str, Seeded]:
    vms: list[dict[str, Any]] = [{"name": vm_name(c), "os_disk": 1, "data_disks": [1, 1] if run == "quota" else []}
                                 for c in cases if c.source == "vm"]
    if run != "quota" and run not in STAGING_RUNS:
        vms.append({"name": CALM, "os_disk": 1})
    images = [{"name": vm_name(c), "os_disk": 1, "os_type": "Linux", "data_disks": [], "keep_snapshots": True}
              for c in cases if c.source == "image"]
    seeded = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1, "vms": vms,
                         "images": images}).items
    return {s.name: s for s in seeded}


def _job(rg: str, seeded: dict[str, Seeded], targets: list[dict[str, str]]) -> dict[str, Any]:
    vms = [s.name for s in seeded.values() if s.kind == "vm"]
    images = [s.name for s in seeded.values() if s.kind == "image"]
    return {"source": {"resource_group": rg, "vms": vms, "images": images}, "targets": targets}


def _os_disk(seeded: dict[str, Seeded], case: FaultCase) -> str:
    return seeded[vm_name(case)].disks[0].name.rsplit("/", 1)[-1]


def _source(status: JobStatus, seeded: Seeded) -> SourceStatus:
    key = source_key(SourceKind(seeded.kind), seeded.resource_group, seeded.name)
    return next(s for s in status.sources if s.key == key)


def outcome(source: SourceStatus) -> str:
    """``succeeded``, or ``failed: <code>``: the first failed disk's code (else the pair's or
    the source's own, where the failure came before any disk had one)."""
    if source.phase is Phase.succeeded:
        return "succeeded"
    codes = [d.error.code for t in source.targets for d in t.disks if d.phase is Phase.failed and d.error]
    codes += [t.error.code for t in source.targets if t.error and t.error.code != "DisksFailed"]
    codes += [source.error.code] if source.error else []
    return f"failed: {codes[0] if codes else source.phase.value}"


def _quota(clients: Clients, admin: AdminClient, cases: list[FaultCase]) -> None:
    """A quota in the target region that leaves room for every disk of the run but one."""
    disks = 3 * len(cases)
    usage = sum(1 for d in clients.compute.disks.list() if d.location == REGION)
    admin.set(disk_quota={REGION: usage + disks - 1})


def _delete_source(fleet: Fleet, clients: Clients, admin: AdminClient, rule_id: str, source: Seeded) -> None:
    """Once the source's snapshot is held (its create answered 503 at least once), the VM and
    its disk are deleted, as an operator might mid-job; then the hold is lifted."""
    def held() -> bool:
        return any(r["id"] == rule_id and r["count"] < 10_000 for r in admin.faults())

    wait_until(held, 30, lambda: f"the snapshot of {source.name} was never attempted\n{fleet.workers.tail()}",
               interval=0.1)
    clients.compute.virtual_machines.begin_delete(source.resource_group, source.name).result()
    for disk in source.disks:
        clients.compute.disks.begin_delete(source.resource_group, disk.id.rsplit("/", 1)[1]).result()
    admin.remove_fault(rule_id)


def _staging_mid_copy(fleet: Fleet, job_id: str, target_rg: str) -> str:
    """The name of the job's staging account in the first target, once it is mid-copy (every
    copy into it has bytes, none is done)."""
    def mid_copy() -> bool:
        disks = [d for d in fleet.store.status(job_id).disks() if d.target.endswith("/" + target_rg.lower())]
        return bool(disks) and all(d.phase is Phase.copying and 0 < d.bytes_copied < d.bytes_total for d in disks)

    wait_until(mid_copy, 30, lambda: f"copies did not get going: {fleet.store.status(job_id)}", interval=0.05)
    job = fleet.store.job(job_id)
    account = next(t.staging for t in job.targets if t.resource_group == target_rg)
    assert account is not None
    return account.name


@pytest.mark.parametrize("run", RUNS)
def test_fault_matrix(run: Run, fleet: Fleet, fast_copies: AdminClient, clients: Clients,
                      request: pytest.FixtureRequest) -> None:
    cases = cases_of(run)
    rg = unique_rg(f"fm-{run}")
    target_rg = f"we-{rg}"
    targets = [{"region": REGION, "resource_group": target_rg}]
    if run in STAGING_RUNS:
        targets.append({"region": OTHER_REGION, "resource_group": f"br-{rg}"})
    seeded = _seed(fleet, rg, run, cases)
    fast_copies.set(copy_bandwidth=COPY_BANDWIDTH)
    for case in cases:
        fast_copies.set(**case.settings)
    if run == "quota":
        _quota(clients, fast_copies, cases)
    rules = {c.id: [fast_copies.add_fault(**r)["id"] for r in rules_for(c, rg, target_rg, _os_disk(seeded, c))]
             for c in cases}

    started = time.monotonic()
    job_id = fleet.submit(_job(rg, seeded, targets))
    for case in cases:
        if case.action == "delete-source":
            _delete_source(fleet, clients, fast_copies, rules[case.id][0], seeded[vm_name(case)])
        elif case.action == "delete-staging":
            clients.storage.storage_accounts.delete(target_rg, _staging_mid_copy(fleet, job_id, target_rg))
        elif case.action == "lock-staging":
            clients.storage.storage_accounts.update(target_rg, _staging_mid_copy(fleet, job_id, target_rg),
                                                    {"properties": {"allowSharedKeyAccess": False}})
    status, ended = _wait(fleet, job_id, {c.id: seeded[vm_name(c)] for c in cases}, started)
    # every fault with a number of uses was given in full: no case passes by missing its aim
    unspent = [r for r in fast_copies.faults() if r["count"] > 0 and r["count"] < 10_000]
    fast_copies.clear_faults()

    got = {c.id: outcome(_source(status, seeded[vm_name(c)])) for c in cases}
    for case in cases:
        record_case(CaseRecord(matrix="fault", case=case.id, outcome=got[case.id], recovery_seconds=ended.get(case.id),
                               nodeid=request.node.nodeid,
                               details={"family": case.family, "expected": case.expect, "run": run,
                                        "knobs": [{k: v for k, v in r.items() if v is not None} for r in case.rules]
                                        + ([case.action] if case.action else [])}))
    assert got == {c.id: c.expect for c in cases}, status
    assert unspent == [], unspent
    _others_went_on(fleet, status, seeded, cases)
    assert_clean(fleet, job_id)


def _wait(fleet: Fleet, job_id: str, sources: dict[str, Seeded], started: float,
          timeout: float = 180) -> tuple[JobStatus, dict[str, float]]:
    """The finished job, and the seconds from the submit until each case's source ended
    (its outcome known: the recovery time of that case)."""
    ended: dict[str, float] = {}

    def finished() -> JobStatus | None:
        status = fleet.store.status(job_id)
        for case_id, source in sources.items():
            if case_id not in ended and _source(status, source).phase.terminal:
                ended[case_id] = round(time.monotonic() - started, 1)
        return status if status.done and status.cleaned else None

    status = wait_until(finished, timeout, lambda: f"job {job_id} not done after {timeout}s: "
                        f"{fleet.store.status(job_id)}\n{fleet.workers.tail()}", interval=0.2)
    return status, ended


def _others_went_on(fleet: Fleet, status: JobStatus, seeded: dict[str, Seeded], cases: list[FaultCase]) -> None:
    """Every disk that no fault aimed at arrived, with its source's bytes; a failed case
    failed only its own disk (the quota: one of its three; the staging account: one pair)."""
    by_name = {vm_name(c): c for c in cases}
    for name, source in seeded.items():
        st = _source(status, source)
        case = by_name.get(name)
        if case is None or case.expect == "succeeded":
            if source.kind == "image":
                (target,) = st.targets
                assert target.image_id, st
                assert_image_content(fleet, source, target.image_id)
            else:
                assert_same_content(fleet, source, status)
            continue
        failed = [d for t in st.targets for d in t.disks if d.phase is Phase.failed]
        if case.run == "quota":
            assert len(failed) == 1 and len([d for t in st.targets for d in t.disks]) == 3, st
            assert_same_content(fleet, source, status)
        elif case.run in STAGING_RUNS:
            assert {t.region for t in st.targets if t.phase is Phase.succeeded} == {OTHER_REGION}, st
            # the job deleted the staging account it made: nothing is reported left behind
            assert status.cleanup_errors() == [], status.cleanup_errors()
            assert_same_content(fleet, source, status)
        else:
            assert len(failed) == 1 and failed[0].result_id is None, st
