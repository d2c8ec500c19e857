"""diskferry's settings: one frozen, typed object read from the environment once.

Nothing else in the project reads ``os.environ``; every other module receives a
:class:`Settings` (or the values it needs). ``Settings.from_env(mapping)`` builds one from
any mapping, which is how tests give a worker or a producer its configuration.

Environment variables (defaults in brackets):

=================================  ==============================================================
``DISKFERRY_BROKER_URL``           Celery broker [``redis://127.0.0.1:6379/0``]
``DISKFERRY_RESULT_BACKEND``       Celery result backend [the broker URL]
``DISKFERRY_STATE_URL``            Redis holding job records and the SAS vault [the broker URL]
``DISKFERRY_ARM_ENDPOINT``         Azure Resource Manager [``https://management.azure.com``]
``DISKFERRY_ARM_SCOPE``            token scope for ARM [``https://management.azure.com/.default``]
``AZURE_SUBSCRIPTION_ID``          default subscription of job files that name none
``AZURE_TENANT_ID`` ...            ``AZURE_CLIENT_ID``, ``AZURE_CLIENT_SECRET``: a service
                                   principal (ClientSecretCredential); without them,
                                   DefaultAzureCredential (managed identity, CLI login, ...)
``AZURE_AUTHORITY_HOST``           the OAuth authority [Azure public cloud]
``REQUESTS_CA_BUNDLE``             CA bundle to verify Azure endpoints [system store]
``DISKFERRY_QUEUE``                queue of prepare/copy/finalize tasks [``diskferry``]
``DISKFERRY_POLL_QUEUE``           queue of copy polls [``diskferry.poll``]
``DISKFERRY_CONCURRENCY``          worker processes per worker [4]
``DISKFERRY_POLL_SECONDS``         countdown before a copy's first poll, and between polls while
                                   its rate is unknown [15]
``DISKFERRY_POLL_FLOOR_SECONDS``   shortest countdown between two polls of one copy; also the
                                   smallest detection lag aimed at [2, or POLL_SECONDS if less]
``DISKFERRY_POLL_CEILING_SECONDS`` longest countdown between two polls [600, at most half the
                                   visibility timeout: 300 with the defaults]
``DISKFERRY_POLL_ETA_FRACTION``    next poll after this fraction of the copy's remaining time
                                   (ETA), so polls tighten as the end nears [0.4]
``DISKFERRY_POLL_GROWTH``          no countdown exceeds this share of the copy's age, against
                                   ETAs that progress over sparse disks makes too long [1]
``DISKFERRY_POLL_LAG_FRACTION``    detection lag aimed at, as a fraction of the copy's expected
                                   duration (``diskferry.pipeline.polling``) [0.01]
``DISKFERRY_POLL_LISTING_SECONDS`` how long one listing of a staging container (List Blobs
                                   ``include=copy``) answers the polls of every copy into it, so
                                   status calls grow with containers, not copies (0: each poll
                                   reads its own blob; never more than the floor) [1]
``DISKFERRY_COPY_DEADLINE_SECONDS`` a copy still pending after this is aborted [7 days]
``DISKFERRY_COPY_RESTARTS``        restarts of one disk's copy after its source could not be
                                   read (SAS expired or revoked), each with a fresh SAS [3]
``DISKFERRY_SAS_BANDWIDTH``        bytes/s assumed when sizing a SAS lifetime and when judging
                                   whether a SAS lasts a copy [10 MiB/s]
``DISKFERRY_SAS_MARGIN``           factor applied to the expected copy time [3]
``DISKFERRY_SAS_MIN_SECONDS``      shortest SAS lifetime [3600]
``DISKFERRY_SAS_MAX_SECONDS``      longest SAS lifetime [60 days, Azure's limit]
``DISKFERRY_JOB_TTL_SECONDS``      a job record expires this long after its last update [14 days]
``DISKFERRY_VAULT_KEY``            Fernet key encrypting SAS URLs between tasks (required by
                                   workers; ``python -m diskferry.vault`` prints a new one)
``DISKFERRY_VISIBILITY_TIMEOUT``   Redis visibility timeout, seconds [600]: a message taken by a
                                   worker that died comes back after this long (so it bounds
                                   recovery from a lost worker); every countdown and every task
                                   must stay well under it (at most a quarter), or a message
                                   still held by a live worker is delivered a second time
``DISKFERRY_WORKER_LOST_SECONDS`` a worker process whose broker connection has not beaten (every
                                   2 s) for this long is dead: the messages it held go back on
                                   their queues at once (``diskferry.tasks.rescue``), instead of
                                   after the visibility timeout; at least 10 [15]
``DISKFERRY_ETA_TASK_LIMIT``       polls (ETA messages) one worker holds at most; a worker at the
                                   limit takes nothing more, prepares and finalizes included, so
                                   it must exceed a worker's share of the copies in flight [5000]
``DISKFERRY_WATCHDOG_SECONDS``     countdown between two rounds of a job's watchdog [60]
``DISKFERRY_STALL_SECONDS``        a job in which nothing moved (no byte copied, no phase changed)
                                   for this long ends failed (``Stalled``), after its cleanup;
                                   0: never [6 hours]
``DISKFERRY_WATCHDOG_GRACE_SECONDS`` a copy's poll overdue by the visibility timeout, the
                                   sweep interval and this much is presumed lost [600]
``DISKFERRY_ARM_READS``            the fleet's ARM budget for reads, ``SIZE/REFILL`` (tokens,
                                   tokens per second), shared by every worker through Redis;
                                   Azure's bucket per subscription and principal [250/25]
``DISKFERRY_ARM_WRITES``           the same for writes (PUT, POST, PATCH) [200/10]
``DISKFERRY_ARM_DELETES``          the same for deletes [200/10]
``DISKFERRY_ARM_PACING``           ``0`` turns the shared budget off: workers then call ARM
                                   unpaced, and still re-enqueue on a 429 [1]
=================================  ==============================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from diskferry import rules

DAY = 24 * 3600
MIB = 1024 * 1024
#: a worker's broker connection beats this often (kombu's restore tick; ``tasks.rescue``)
WORKER_BEAT_SECONDS = 2
#: Azure refuses a disk SAS longer than this
AZURE_MAX_SAS_SECONDS = 60 * DAY
#: the longest back-off of a task retried after a transient failure (Retry-After aside),
#: unless a quarter of the visibility timeout is shorter
MAX_BACKOFF_SECONDS = 60


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class AzureIdentity:
    """Who diskferry is in Azure. Without a client secret, DefaultAzureCredential is used."""

    tenant_id: str | None = None
    client_id: str | None = None
    #: never logged: ``repr`` hides it
    client_secret: str | None = None
    authority_host: str | None = None

    @property
    def uses_client_secret(self) -> bool:
        return bool(self.tenant_id and self.client_id and self.client_secret)

    def __repr__(self) -> str:
        secret = "***" if self.client_secret else None
        return (
            f"AzureIdentity(tenant_id={self.tenant_id!r}, client_id={self.client_id!r}, "
            f"client_secret={secret!r}, authority_host={self.authority_host!r})"
        )


#: what ``requests`` reads from the environment at every call (besides its CA bundle, which is
#: read here once — ``REQUESTS_CA_BUNDLE``, else ``CURL_CA_BUNDLE``, as ``requests`` looks — and
#: ``.netrc``, whose Basic auth must never replace Azure's token)
_NETWORK_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})


@dataclass(frozen=True)
class AzureAccess:
    """How diskferry reaches Azure: all the cloud facade (``diskferry.cloud``) is given."""

    arm_endpoint: str = "https://management.azure.com"
    arm_scope: str = "https://management.azure.com/.default"
    #: the default subscription of job files that name none
    subscription_id: str | None = None
    identity: AzureIdentity = AzureIdentity()
    #: CA bundle that verifies Azure's endpoints (None: the system store)
    ca_bundle: str | None = None
    #: the environment names a proxy that ``requests`` must read at every call; without one the
    #: clients skip that lookup (``trust_env``): a ``NO_PROXY`` check of the whole environment
    #: per call, 16 % of a worker's CPU (cProfile, 400 disks). ``CURL_CA_BUNDLE`` once turned
    #: it on (Debian's images set it): it is read once instead, as ``ca_bundle``
    env_network: bool = True

    def __post_init__(self) -> None:
        # the default subscription of job files goes into ARM URLs: a GUID, or nothing
        if self.subscription_id and (problem := rules.subscription_problem(self.subscription_id)):
            raise SettingsError(f"AZURE_SUBSCRIPTION_ID: {problem}")


@dataclass(frozen=True)
class SasPolicy:
    """How long a read SAS lives: the expected copy time with a margin, within bounds."""

    assumed_bandwidth: float = 10 * MIB
    margin: float = 3.0
    min_seconds: int = 3600
    max_seconds: int = AZURE_MAX_SAS_SECONDS

    def expected_seconds(self, total_bytes: int) -> float:
        """How long a copy of ``total_bytes`` should take at the assumed bandwidth (no margin)."""
        return total_bytes / self.assumed_bandwidth

    def lifetime(self, total_bytes: int) -> int:
        """Seconds a SAS over ``total_bytes`` should live (copies of a source run in parallel,
        but share the same bandwidth assumption per copy, so the largest disk decides)."""
        expected = self.expected_seconds(total_bytes) * self.margin
        return int(min(self.max_seconds, max(self.min_seconds, expected)))


@dataclass(frozen=True)
class TokenBucket:
    """A bucket of ``size`` tokens that gains ``refill`` tokens a second."""

    size: float
    refill: float

    @classmethod
    def parse(cls, name: str, raw: str) -> TokenBucket:
        size, sep, refill = raw.partition("/")
        try:
            bucket = cls(float(size), float(refill)) if sep else None
        except ValueError:
            bucket = None
        if bucket is None or bucket.size < 1 or bucket.refill <= 0:
            raise SettingsError(f"{name}: expected SIZE/REFILL with SIZE >= 1 and REFILL > 0, got {raw!r}")
        return bucket


@dataclass(frozen=True)
class ArmBudget:
    """How fast the fleet may call Azure Resource Manager: Azure's token buckets per
    subscription and principal (docs "Request limits and throttling"), one per kind of call."""

    reads: TokenBucket = TokenBucket(250, 25)
    writes: TokenBucket = TokenBucket(200, 10)
    deletes: TokenBucket = TokenBucket(200, 10)
    #: False: no pacing (a 429 still re-enqueues the task)
    enabled: bool = True


@dataclass(frozen=True)
class Settings:
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str = "redis://127.0.0.1:6379/0"
    state_url: str = "redis://127.0.0.1:6379/0"
    azure: AzureAccess = AzureAccess()
    queue: str = "diskferry"
    poll_queue: str = "diskferry.poll"
    concurrency: int = 4
    poll_seconds: float = 15.0
    #: bounds and shape of adaptive polling (``diskferry.pipeline.polling``)
    poll_floor_seconds: float = 2.0
    #: None: 600 s, or a quarter of the visibility timeout when that is less
    poll_ceiling_seconds: float | None = None
    poll_eta_fraction: float = 0.4
    poll_lag_fraction: float = 0.01
    poll_growth: float = 1.0
    #: a container's copy listing serves every poll for this long (``diskferry.pipeline.copystatus``)
    poll_listing_seconds: float = 1.0
    copy_deadline_seconds: int = 7 * DAY
    #: a copy whose source could not be read is restarted (with a fresh SAS) this many times
    copy_restarts: int = 3
    sas: SasPolicy = SasPolicy()
    job_ttl_seconds: int = 14 * DAY
    #: never logged: ``repr`` hides it
    vault_key: str | None = None
    #: every task is short (Azure's long operations are started, then checked by re-enqueued
    #: runs), so minutes suffice; see ``longest_countdown``
    visibility_timeout: int = 600
    #: a worker process silent this long is dead and what it held is given back (``tasks.rescue``)
    worker_lost_seconds: float = 15.0
    #: 2,000 copies in flight on two workers held 1,000 polls each: at a limit of 1,000 they
    #: would take no other task (a held ETA message costs a few KiB of a worker's memory)
    eta_task_limit: int = 5000
    #: the watchdog (``diskferry.tasks.watchdog``) looks at a job this often, from the poll queue
    watchdog_seconds: float = 60.0
    #: how far past every redelivery a poll must be overdue before the watchdog re-sends it
    watchdog_grace_seconds: float = 600.0
    #: a job in which nothing moved for this long is failed and cleaned up by its watchdog (0: never)
    stall_seconds: float = 6 * 3600.0
    arm_budget: ArmBudget = ArmBudget()

    def __post_init__(self) -> None:
        if self.poll_seconds <= 0:
            raise SettingsError("DISKFERRY_POLL_SECONDS must be > 0")
        # a countdown message sits unacked in the worker; past the visibility timeout Redis
        # hands it to another worker as well, so every countdown must stay well under it
        if self.poll_seconds * 4 > self.visibility_timeout:
            raise SettingsError(
                "DISKFERRY_VISIBILITY_TIMEOUT must be at least 4 x DISKFERRY_POLL_SECONDS"
            )
        self._check_polling()
        # fewer beats than this and a busy host's worker is declared dead while alive (harmless,
        # but it runs its tasks twice); past the visibility timeout kombu's own sweep comes first
        if self.worker_lost_seconds < WORKER_BEAT_SECONDS * 5:
            raise SettingsError(
                f"DISKFERRY_WORKER_LOST_SECONDS must be at least {WORKER_BEAT_SECONDS * 5} (5 beats of "
                f"{WORKER_BEAT_SECONDS} s)"
            )
        # the watchdog's own countdown message is held like a poll's
        if self.watchdog_seconds <= 0 or self.watchdog_seconds * 4 > self.visibility_timeout:
            raise SettingsError(
                "DISKFERRY_WATCHDOG_SECONDS must be > 0 and at most DISKFERRY_VISIBILITY_TIMEOUT / 4"
            )
        if self.stall_seconds < 0:
            raise SettingsError("DISKFERRY_STALL_SECONDS must be >= 0")
        if self.watchdog_grace_seconds < 0:
            raise SettingsError("DISKFERRY_WATCHDOG_GRACE_SECONDS must be >= 0")
        if not 0 < self.sas.min_seconds <= self.sas.max_seconds <= AZURE_MAX_SAS_SECONDS:
            raise SettingsError(
                "need 0 < DISKFERRY_SAS_MIN_SECONDS <= DISKFERRY_SAS_MAX_SECONDS <= 60 days"
            )
        if self.sas.assumed_bandwidth <= 0 or self.sas.margin < 1:
            raise SettingsError("need DISKFERRY_SAS_BANDWIDTH > 0 and DISKFERRY_SAS_MARGIN >= 1")
        if self.copy_restarts < 0:
            raise SettingsError("DISKFERRY_COPY_RESTARTS must be >= 0")
        if self.concurrency < 1:
            raise SettingsError("DISKFERRY_CONCURRENCY must be >= 1")
        if self.queue == self.poll_queue:
            raise SettingsError("DISKFERRY_QUEUE and DISKFERRY_POLL_QUEUE must differ")

    def _check_polling(self) -> None:
        if self.poll_floor_seconds <= 0:
            raise SettingsError("DISKFERRY_POLL_FLOOR_SECONDS must be > 0")
        ceiling = self.poll_ceiling_seconds
        if ceiling is not None and not self.poll_floor_seconds <= ceiling <= self.max_poll_countdown:
            raise SettingsError(
                "need DISKFERRY_POLL_FLOOR_SECONDS <= DISKFERRY_POLL_CEILING_SECONDS <= "
                "DISKFERRY_VISIBILITY_TIMEOUT / 2"
            )
        if not 0 < self.poll_eta_fraction < 1:
            raise SettingsError("DISKFERRY_POLL_ETA_FRACTION must be between 0 and 1 (exclusive)")
        if not 0 < self.poll_lag_fraction < 1:
            raise SettingsError("DISKFERRY_POLL_LAG_FRACTION must be between 0 and 1 (exclusive)")
        if self.poll_growth <= 0:
            raise SettingsError("DISKFERRY_POLL_GROWTH must be > 0")
        if self.poll_listing_seconds < 0:
            raise SettingsError("DISKFERRY_POLL_LISTING_SECONDS must be >= 0")

    def __repr__(self) -> str:
        fields = {k: v for k, v in self.__dict__.items() if k != "vault_key"}
        fields["vault_key"] = "***" if self.vault_key else None
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"

    @property
    def max_backoff_seconds(self) -> float:
        """The longest back-off of a task retried after a transient failure."""
        return min(MAX_BACKOFF_SECONDS, self.visibility_timeout / 4)

    @property
    def max_poll_countdown(self) -> float:
        """The longest wait between two polls of a copy: half the visibility timeout. A poll's
        countdown message is held by a worker, unacknowledged, until it runs; the other half
        is the margin for it to be run and acknowledged before Redis would hand it out again.
        (A quarter, as for other countdowns, would make long copies poll twice as often.)"""
        return self.visibility_timeout / 2

    @property
    def longest_countdown(self) -> float:
        """The longest countdown a task other than a poll is re-enqueued with (Azure's
        Retry-After included: longer ones are cut to this): a quarter of the visibility timeout,
        which the watchdog's and the back-off are checked or cut to stay under."""
        return self.visibility_timeout / 4

    @property
    def result_expires_seconds(self) -> int:
        """Celery results must outlive the longest chord (a copy may poll until its deadline)."""
        return self.copy_deadline_seconds + 2 * DAY

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def text(name: str, default: str | None = None) -> str | None:
            value = env.get(name, "").strip()
            return value or default

        def number(name: str, default: float) -> float:
            raw = text(name)
            if raw is None:
                return default
            try:
                return float(raw)
            except ValueError:
                raise SettingsError(f"{name}: expected a number, got {raw!r}") from None

        def integer(name: str, default: int) -> int:
            value = number(name, default)
            if value != int(value):
                raise SettingsError(f"{name}: expected a whole number, got {value}")
            return int(value)

        def bucket(name: str, default: TokenBucket) -> TokenBucket:
            raw = text(name)
            return default if raw is None else TokenBucket.parse(name, raw)

        def flag(name: str, default: bool) -> bool:
            raw = (text(name) or ("1" if default else "0")).lower()
            if raw not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
                raise SettingsError(f"{name}: expected 1 or 0, got {raw!r}")
            return raw in ("1", "true", "yes", "on")

        broker = text("DISKFERRY_BROKER_URL", cls.broker_url)
        assert broker is not None
        d = cls()
        return cls(
            broker_url=broker,
            result_backend=text("DISKFERRY_RESULT_BACKEND", broker) or broker,
            state_url=text("DISKFERRY_STATE_URL", broker) or broker,
            azure=AzureAccess(
                arm_endpoint=(text("DISKFERRY_ARM_ENDPOINT", d.azure.arm_endpoint) or "").rstrip("/"),
                arm_scope=text("DISKFERRY_ARM_SCOPE", d.azure.arm_scope) or d.azure.arm_scope,
                subscription_id=text("AZURE_SUBSCRIPTION_ID"),
                identity=AzureIdentity(
                    tenant_id=text("AZURE_TENANT_ID"),
                    client_id=text("AZURE_CLIENT_ID"),
                    client_secret=text("AZURE_CLIENT_SECRET"),
                    authority_host=text("AZURE_AUTHORITY_HOST"),
                ),
                # requests' own order (``requests.sessions.merge_environment_settings``)
                ca_bundle=text("REQUESTS_CA_BUNDLE") or text("CURL_CA_BUNDLE"),
                env_network=any(name.lower() in _NETWORK_VARIABLES and value.strip() for name, value in env.items()),
            ),
            queue=text("DISKFERRY_QUEUE", d.queue) or d.queue,
            poll_queue=text("DISKFERRY_POLL_QUEUE", d.poll_queue) or d.poll_queue,
            concurrency=integer("DISKFERRY_CONCURRENCY", d.concurrency),
            poll_seconds=number("DISKFERRY_POLL_SECONDS", d.poll_seconds),
            poll_floor_seconds=number("DISKFERRY_POLL_FLOOR_SECONDS", d.poll_floor_seconds),
            poll_ceiling_seconds=(
                number("DISKFERRY_POLL_CEILING_SECONDS", 0) if text("DISKFERRY_POLL_CEILING_SECONDS") else None
            ),
            poll_eta_fraction=number("DISKFERRY_POLL_ETA_FRACTION", d.poll_eta_fraction),
            poll_lag_fraction=number("DISKFERRY_POLL_LAG_FRACTION", d.poll_lag_fraction),
            poll_growth=number("DISKFERRY_POLL_GROWTH", d.poll_growth),
            poll_listing_seconds=number("DISKFERRY_POLL_LISTING_SECONDS", d.poll_listing_seconds),
            copy_deadline_seconds=integer("DISKFERRY_COPY_DEADLINE_SECONDS", d.copy_deadline_seconds),
            copy_restarts=integer("DISKFERRY_COPY_RESTARTS", d.copy_restarts),
            sas=SasPolicy(
                assumed_bandwidth=number("DISKFERRY_SAS_BANDWIDTH", d.sas.assumed_bandwidth),
                margin=number("DISKFERRY_SAS_MARGIN", d.sas.margin),
                min_seconds=integer("DISKFERRY_SAS_MIN_SECONDS", d.sas.min_seconds),
                max_seconds=integer("DISKFERRY_SAS_MAX_SECONDS", d.sas.max_seconds),
            ),
            job_ttl_seconds=integer("DISKFERRY_JOB_TTL_SECONDS", d.job_ttl_seconds),
            vault_key=text("DISKFERRY_VAULT_KEY"),
            visibility_timeout=integer("DISKFERRY_VISIBILITY_TIMEOUT", d.visibility_timeout),
            worker_lost_seconds=number("DISKFERRY_WORKER_LOST_SECONDS", d.worker_lost_seconds),
            eta_task_limit=integer("DISKFERRY_ETA_TASK_LIMIT", d.eta_task_limit),
            watchdog_seconds=number("DISKFERRY_WATCHDOG_SECONDS", d.watchdog_seconds),
            watchdog_grace_seconds=number("DISKFERRY_WATCHDOG_GRACE_SECONDS", d.watchdog_grace_seconds),
            stall_seconds=number("DISKFERRY_STALL_SECONDS", d.stall_seconds),
            arm_budget=ArmBudget(
                reads=bucket("DISKFERRY_ARM_READS", d.arm_budget.reads),
                writes=bucket("DISKFERRY_ARM_WRITES", d.arm_budget.writes),
                deletes=bucket("DISKFERRY_ARM_DELETES", d.arm_budget.deletes),
                enabled=flag("DISKFERRY_ARM_PACING", d.arm_budget.enabled),
            ),
        )


@cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env(os.environ)
