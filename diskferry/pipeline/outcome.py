"""What steps return to their tasks: plain, secret-free values that Celery may store."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from diskferry.errors import Busy, DiskferryError, RetryLater, Throttled, Waiting, redact
from diskferry.model import DiskKey, Error, Held, Phase, SourceKey, TargetKey
from diskferry.state import JobStore


@dataclass(frozen=True)
class DiskOutcome:
    """How one disk of one target ended (what a copy task returns to the chord)."""

    disk: DiskKey
    ok: bool
    code: str | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PairOutcome:
    """How a (source, target) pair ended (what finalize and prepare return)."""

    source: SourceKey
    target: TargetKey
    ok: bool
    code: str | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Pending:
    """The copy is still running: look again in ``countdown`` seconds (its task parks it for
    the target's watcher, ``diskferry.pipeline.copywatch``)."""

    countdown: float


def error_of(exc: DiskferryError) -> Error:
    return Error(exc.code, exc.message)


def fail_disk(store: JobStore, job_id: str, source: SourceKey, target: TargetKey, disk: DiskKey,
              error: Error) -> DiskOutcome:
    store.update_disk(job_id, source, target, disk, phase=Phase.failed, error=error, rate=None, eta=None)
    return DiskOutcome(disk, False, error.code, error.message)


def held_by(step: str, exc: RetryLater, now: float) -> Held | None:
    """What ``exc`` says holds ``step`` up, for ``status``; None for a routine wait (an operation
    Azure is still at, a lock another worker holds), which also removes what an earlier run
    recorded: the step got past it. Azure's 429s and the fleet's own pacing are recorded: they
    are why a throttled job goes slower."""
    if isinstance(exc, Waiting) or (isinstance(exc, Busy) and not isinstance(exc, Throttled)):
        return None
    return Held(step, exc.code, redact(exc.message)[:HELD_MESSAGE_CHARS], now)


#: the longest message a held-up record keeps (an SDK's error text can run to kilobytes)
HELD_MESSAGE_CHARS = 300
