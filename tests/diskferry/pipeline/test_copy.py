"""A copy whose source could not be read is restarted with a fresh SAS, within a budget; one
that Azure failed transiently (5xx, ServerBusy, ...) is restarted on the SAS it had.

The restart state machine is driven step by step (``copy.advance`` in this process, as the
task would call it) against the local Azure, so that the test acts between two calls.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from diskferry import naming
from diskferry.cloud import CopyState, CopyStatus, ResourceId
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Job, Phase, Source, Target
from diskferry.naming import STAGING_CONTAINER
from diskferry.pipeline import cleanup, copy, layout, prepare
from diskferry.pipeline.copy import source_unreadable, transient
from diskferry.pipeline.outcome import DiskOutcome, Pending
from diskferry.pipeline.polling import PollPolicy
from diskferry.pipeline.runtime import Runtime, sas_name
from diskferry.producer.jobfile import parse
from diskferry.producer.planner import make_plan
from tests.conftest import Clients
from tests.diskferry.pipeline.runtimes import runtime_for
from tests.fleet.checks import delta
from tests.waiting import wait_until


@pytest.mark.parametrize(
    ("description", "unreadable"),
    [
        ('403 AuthorizationFailure "Copy failed when reading the source. Signature not valid in the specified '
         'time frame."', True),
        ('403 AuthenticationFailed "Copy failed when reading the source. The SAS was revoked or never existed."', True),
        ('404 BlobNotFound "Copy failed when reading the source. The specified blob does not exist."', True),
        ('403 CannotVerifyCopySource "This request is not authorized to perform this operation."', True),
        ('500 InternalError "Copy failed."', False),
        ('412 ConditionNotMet "The source blob was modified during the copy."', False),
        (None, False),
        ("", False),
    ],
)
def test_source_unreadable(description: str | None, unreadable: bool) -> None:
    assert source_unreadable(description) is unreadable


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ('503 ServerBusy "The server is busy."', True),
        ('500 InternalError "Copy failed."', True),
        ('500 OperationTimedOut "The operation could not be completed within the permitted time."', True),
        ('502 BadGateway "Copy failed."', True),
        ('403 AuthorizationFailure "Copy failed when reading the source."', False),
        ('412 ConditionNotMet "The source blob was modified during the copy."', False),
        (None, False),
        ("", False),
    ],
)
def test_transient(description: str | None, expected: bool) -> None:
    assert transient(description) is expected


# -- the restart state machine, step by step against the local Azure ------------------------

@dataclass
class Pair:
    rt: Runtime
    job: Job
    source: Source
    target: Target
    clients: Clients
    admin: AdminClient

    def advance(self) -> DiskOutcome | Pending:
        return copy.advance(self.rt, self.job.id, self.source.key, self.target.key, "os")

    def state(self) -> dict[str, Any]:
        return self.rt.store.disk_state(self.job.id, self.source.key, self.target.key, "os")

    def copy_status(self) -> CopyStatus | None:
        account = self.rt.staging_account(self.target)
        assert account is not None
        return self.rt.cloud.storage.copy_status(account, STAGING_CONTAINER,
                                                 layout.staged_blob(self.job, self.source, self.target,
                                                                    self.source.disk("os")))

    def revoke(self) -> None:
        """endGetAccess on the source snapshot, as an outsider would."""
        snap = ResourceId.parse(layout.snapshot_id(self.job, self.source, self.source.disk("os")))
        self.clients.compute.snapshots.begin_revoke_access(snap.resource_group, snap.name).result()

    def refuse_next_copy(self) -> None:
        """The next Copy Blob answers as Azure does when the source SAS no longer works."""
        self.admin.add_fault("blob.CopyBlob", status=403, code="CannotVerifyCopySource",
                             message="This request is not authorized to perform this operation.", count=1)

    def until_failed(self) -> CopyStatus:
        def failed() -> CopyStatus | None:
            status = self.copy_status()
            return status if status is not None and status.state is CopyState.failed else None

        return wait_until(failed, 20, lambda: f"the copy did not fail: {self.copy_status()}")


@pytest.fixture
def pair(emulator: EmulatorProcess, redis_db: Callable[[], str], clients: Clients,
         admin: AdminClient) -> Iterator[Pair]:
    """A one-disk VM prepared for one staged target (snapshot, SAS generation 1, staging
    account), with copies slow enough (1 MiB in ~4 s) to be caught running."""
    rg = f"restart-{uuid.uuid4().hex[:6]}"
    seed(emulator.env, SeedSpec.model_validate({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                                                "vms": [{"name": "app", "os_disk": 1}]}))
    # each step reads its own blob: the test acts between two steps and expects the next to see
    # it (a poll sharing a listing sees it up to DISKFERRY_POLL_LISTING_SECONDS later; test_copystatus)
    rt = runtime_for(emulator, redis_db(), DISKFERRY_POLL_LISTING_SECONDS="0")
    spec = parse({"source": {"resource_group": rg, "vms": ["app"]},
                  "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]})
    job = make_plan(spec, rt.cloud, rt.settings, job_id=naming.new_job_id()).job
    rt.store.create(job)
    source, target = job.sources[0], job.targets[0]
    assert prepare.prepare(rt, job.id, source.key, target.key).ok
    admin.set(copy_bandwidth=256 * 1024, lro_latency=0.0)
    found = Pair(rt, job, source, target, clients, admin)
    yield found
    cleanup.cleanup_pair(rt, job, source, target)
    assert admin.leftovers(job.id) == []
    assert rt.vault.names(job.id) == []
    rt.store.delete(job.id)
    for group in (rg, f"br-{rg}"):
        clients.resource.resource_groups.begin_delete(group).result()


def _calls(p: Pair, before: dict[str, int]) -> tuple[int, int]:
    """(grants, Copy Blob calls) since ``before``."""
    calls = delta(before, p.admin.counters())
    grants = sum(n for op, n in calls.items() if op.endswith("/beginGetAccess/action"))
    return grants, calls.get("blob.CopyBlob", 0)


def test_every_failure_counts_once_and_a_rerun_starts_nothing(pair: Pair) -> None:
    p = pair
    assert p.rt.settings.copy_restarts == 3
    before = p.admin.counters()
    # 1. Copy Blob refuses the SAS of generation 1: counted, nothing started
    p.refuse_next_copy()
    assert isinstance(p.advance(), Pending)
    assert (p.state()["restarts"], p.state()["stale_generation"]) == (1, 1)
    assert p.state()["restart_reasons"][0].startswith("CannotVerifyCopySource: ")
    assert p.copy_status() is None
    # 2. the next run grants generation 2 and starts the copy
    assert isinstance(p.advance(), Pending)
    assert p.state()["sas_generation"] == 2
    running = p.copy_status()
    assert running is not None and running.state is CopyState.pending
    assert _calls(p, before) == (1, 2)
    # 3. a run again (a redelivered message): no second copy, no grant
    before = p.admin.counters()
    assert isinstance(p.advance(), Pending)
    assert _calls(p, before) == (0, 0)
    again = p.copy_status()
    assert again is not None and again.copy_id == running.copy_id
    # 4. revoked mid-copy, and the restart's Copy Blob refused too: two failures, two restarts
    p.revoke()
    failed = p.until_failed()
    p.refuse_next_copy()
    assert isinstance(p.advance(), Pending)
    state = p.state()
    assert (state["restarts"], state["failed_copy"], state["stale_generation"]) == (3, failed.copy_id, 3)
    assert [r.split(":", 1)[0] for r in state["restart_reasons"]] == [
        "CannotVerifyCopySource", "AuthenticationFailed", "CannotVerifyCopySource"]
    # 5. the blob still shows the failed copy: its failure is not counted again; generation 4 starts
    before = p.admin.counters()
    assert isinstance(p.advance(), Pending)
    assert (p.state()["restarts"], p.state()["sas_generation"]) == (3, 4)
    assert _calls(p, before) == (1, 1)
    # 6. one more failure: the budget is spent; Azure's code and message, and the SAS is revoked
    p.revoke()
    p.until_failed()
    outcome = p.advance()
    assert isinstance(outcome, DiskOutcome) and not outcome.ok
    assert outcome.code == "AuthenticationFailed"
    assert outcome.message is not None and "Copy failed when reading the source" in outcome.message
    assert "after 3 restarts" in outcome.message
    assert p.state()["phase"] == Phase.failed.value
    assert p.rt.vault.entry(p.job.id, sas_name(p.source.key, "os")) is None


def test_a_copy_whose_source_is_gone_is_not_restarted(pair: Pair) -> None:
    p = pair
    assert isinstance(p.advance(), Pending)  # started with generation 1
    snap = ResourceId.parse(layout.snapshot_id(p.job, p.source, p.source.disk("os")))
    p.revoke()
    p.clients.compute.snapshots.begin_delete(snap.resource_group, snap.name).result()
    p.until_failed()
    before = p.admin.counters()
    outcome = p.advance()
    assert isinstance(outcome, DiskOutcome) and not outcome.ok and outcome.code == "AuthenticationFailed"
    assert "after" not in (outcome.message or "")
    assert p.state().get("restarts") is None
    assert _calls(p, before) == (0, 0)


def test_a_transient_failure_restarts_the_copy_on_the_same_sas(pair: Pair) -> None:
    p = pair
    p.admin.add_fault("blob.CopyBlob", kind="copy", at_percent=40, count=1, status=503, code="ServerBusy",
                      message="The server is busy.")
    assert isinstance(p.advance(), Pending)  # started with generation 1
    failed = p.until_failed()
    assert failed.description is not None and failed.description.startswith("503 ServerBusy")
    before = p.admin.counters()
    assert isinstance(p.advance(), Pending)
    state = p.state()
    assert (state["restarts"], state["failed_copy"], state["sas_generation"]) == (1, failed.copy_id, 1)
    assert state.get("stale_generation") in (None, 0)
    assert state["restart_reasons"] == ['ServerBusy: 503 ServerBusy "The server is busy."']
    assert _calls(p, before) == (0, 1)  # started again, nothing granted

    def ended() -> DiskOutcome | None:
        step = p.advance()
        return None if isinstance(step, Pending) else step

    outcome = wait_until(ended, 20, lambda: f"the restarted copy did not end: {p.state()}", interval=0.2)
    assert outcome.ok, outcome
    assert p.state()["phase"] == Phase.copied.value


def test_a_running_copy_is_polled_again_from_its_eta(pair: Pair) -> None:
    """Once a poll sees progress, the next one comes after a fraction of the remaining time
    (within the policy's bounds, and no later than the copy's age: progress over this sparse
    disk makes the ETA far too long), not after the fixed first countdown."""
    p = pair
    assert isinstance(p.advance(), Pending)  # started
    time.sleep(1.0)
    step = p.advance()
    state = p.state()
    assert isinstance(step, Pending)
    assert state["phase"] == Phase.copying.value and state["eta"] is not None and state["eta"] > 0
    policy = PollPolicy.of(p.rt.settings)
    age = state["sample_time"] - state["started"]
    assert policy.floor <= step.countdown <= max(policy.initial, age, policy.floor) + 1e-6
    assert step.countdown <= max(policy.floor, policy.eta_fraction * state["eta"], policy.lag_budget(age, state["eta"]))
