"""diskferry's errors, split by what the caller does next.

* :class:`RetryLater` — a transient condition (throttling, a busy server): run the same
  step again after ``retry_after`` seconds; :class:`Busy` — another worker holds the work
  (a lock): the same, without a retry limit; :class:`Waiting` — Azure is still at an
  operation the step started: the same, without a retry limit (the operation's deadline
  bounds it); :class:`Throttled` — ARM's request budget is spent: the same, without a retry
  limit;
  :class:`AzureUnavailable` — an outage (:class:`ConnectionFailed`: an endpoint did not answer;
  Entra ID could not issue a token): the same, without a retry limit, unless the account a
  failed connection names turns out to be gone;
* :class:`DiskFailed` — this disk cannot be replicated (the copy failed, the VHD was
  refused): report it and go on with the other disks;
* :class:`JobFailed` — nothing in this job (or this source) can go on (no such VM,
  credentials refused, invalid job file): report it and stop;
* :class:`NotFound` — the resource does not exist: done, for a delete; a failure for a read;
* :class:`Unavailable` — a service diskferry needs (Redis, the broker, Azure's endpoints)
  cannot be reached: nothing was done; try again once it is back.

Every error carries Azure's error code (or one of ours) and a message with secrets removed.
"""

from __future__ import annotations

import re
import sys

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: query strings of URLs (SAS tokens live there) and bare ``sig=`` values
_SECRET_PATTERNS = (
    re.compile(r"(https?://[^\s?\"'<>]+)\?[^\s\"'<>]*"),
    re.compile(r"(?i)\b(sig|signature|accountkey|client_secret)=[^&\s;\"']+"),
)


def redact(text: str) -> str:
    """``text`` without SAS tokens or keys: URLs lose their query string."""
    text = _SECRET_PATTERNS[0].sub(r"\1?<redacted>", text)
    return _SECRET_PATTERNS[1].sub(r"\1=<redacted>", text)


class DiskferryError(Exception):
    """Base of every error diskferry raises on purpose."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = redact(message)
        # args are the constructor's: Celery rebuilds a task's exception as ``cls(*args)``
        super().__init__(code, self.message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class RetryLater(DiskferryError):
    """Transient: the same step may succeed if run again later."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after
        self.args = (code, self.message, retry_after)


class Busy(RetryLater):
    """Another worker holds this work (a lock); wait for it without a retry limit — the
    lock's own expiry frees it if its holder died."""


class Waiting(RetryLater):
    """Azure is still working on an operation this step started: come back after
    ``retry_after`` seconds (no retry limit: the operation's own deadline bounds it)."""
class AzureUnavailable(RetryLater):
    """Azure cannot serve anyone right now — an endpoint that does not answer, Entra ID that
    cannot issue a token: an outage, not this step's own trouble. Waited for without a retry
    limit (backing off), as a regional incident may last an hour; the job's stall guard
    (``DISKFERRY_STALL_SECONDS``) bounds a job that nothing moves for that long."""


class ConnectionFailed(AzureUnavailable):
    """Azure's endpoint could not be reached (no answer: a dropped connection, a host name that
    does not resolve). Mostly a blip; but a storage account's endpoint also stops resolving once
    the account is deleted, so a caller that can ask ARM whether the account exists does."""


class OperationFailed(RetryLater):
    """An operation Azure ran ended Failed with a transient code: it is over, so the step
    starts a new one when it runs again (checking the failed one again would only repeat it)."""


class Throttled(Busy):
    """Azure's request budget, or the fleet's share of it, is spent: wait ``retry_after``
    without a retry limit — the budget refills by itself, and pacing is no failure."""


class DiskFailed(DiskferryError):
    """This disk cannot be replicated; the others go on."""


class JobFailed(DiskferryError):
    """Nothing of this job (or source) can go on."""


class NotFound(DiskferryError):
    """The resource does not exist."""


class Unavailable(DiskferryError):
    """A service diskferry needs cannot be reached; nothing was done."""


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says a server (Redis, the broker) did not answer. redis-py's errors do not
    subclass the builtin ``ConnectionError``, and kombu wraps the broker's in its
    ``OperationalError`` (looked up only when kombu is loaded: the CLI's reads never load it)."""
    if isinstance(exc, ConnectionError | TimeoutError | RedisConnectionError | RedisTimeoutError):
        return True
    kombu = sys.modules.get("kombu.exceptions")
    return kombu is not None and isinstance(exc, kombu.OperationalError)


class JobFileError(JobFailed):
    """The job file is invalid; ``field`` names where (``targets[1].region``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        #: every problem found, as (field, message); the first is the one in the message
        self.errors: list[tuple[str, str]] = [(field, message)]
        super().__init__("InvalidJobFile", f"{field}: {message}" if field else message)
        self.args = (field, message)
