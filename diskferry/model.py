"""The words diskferry uses everywhere: a job replicates sources to targets, disk by disk.

* a **job** (one job file) has **sources** (VMs or managed images) and **targets**
  (a region + resource group);
* each source has **disks** (the OS disk and data disks, keyed ``os``, ``lun0``, ...);
* every (source, target) pair runs one canvas; every (source, target, disk) one copy.

Keys (``SourceKey``, ``TargetKey``, ``DiskKey``) are short, stable strings derived from
the job file, used in task arguments, Redis keys and resource names, so that a task run
again finds what the first run made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import TypeAdapter

SourceKey = str
TargetKey = str
DiskKey = str


class SourceKind(StrEnum):
    vm = "vm"  #: a virtual machine: its OS disk and data disks
    image = "image"  #: a managed image: the disks or snapshots in its storage profile


class Consistency(StrEnum):
    """How a VM's disks are frozen before they are read."""

    snapshot = "snapshot"  #: crash-consistent snapshots; the VM keeps running (default)
    deallocate = "deallocate"  #: deallocate the VM, read its disks, start it again afterwards
    none = "none"  #: read the disks as they are (the VM must already be stopped)


class ImageMode(StrEnum):
    """Whether a target gets an image built from the replicated disks."""

    auto = "auto"  #: images give images, VMs give disks
    always = "always"  #: VMs give an image too
    never = "never"  #: images give their disks only


class Phase(StrEnum):
    """Where a disk, a target or a source stands. Terminal: succeeded, failed, cancelled."""

    pending = "pending"  #: enqueued, nothing done yet
    preparing = "preparing"  #: snapshots, grants, staging account
    copying = "copying"  #: Copy Blob (or same-region disk Copy) in progress
    copied = "copied"  #: the VHD is staged (or the same-region disk exists)
    importing = "importing"  #: creating the managed disk from the staged VHD
    imaging = "imaging"  #: building the image at the target
    rebuilding = "rebuilding"  #: making the VM at the target from its disks (NIC, VM, power state)
    cleaning = "cleaning"  #: removing what the pair made for itself
    succeeded = "succeeded"  #: done: the result exists at the target
    failed = "failed"  #: gave up; ``error`` says why
    cancelled = "cancelled"  #: stopped by ``diskferry cancel``; what it made is kept unless discarded

    @property
    def terminal(self) -> bool:
        return self in (Phase.succeeded, Phase.failed, Phase.cancelled)


class ExportKind(StrEnum):
    """What a disk is read from."""

    disk = "disk"  #: the managed disk itself (deallocated VM, consistency none)
    snapshot = "snapshot"  #: a snapshot (temporary, or an image's own snapshot)


class Role(StrEnum):
    """The ``diskferry-role`` tag on everything diskferry creates."""

    temporary = "temporary"  #: deleted by the job before it ends
    result = "result"  #: what the operator asked for; kept


TAG_JOB = "diskferry-job"
TAG_ROLE = "diskferry-role"
#: on a source disk or snapshot that a job grants read access to (it did not make it, so it
#: carries no TAG_JOB): the job's id, from just before the grant until just after the revoke —
#: how ``diskferry gc`` finds a SAS a lost job left on a disk that is not its own
TAG_GRANT = "diskferry-grant"


def tags_for(job_id: str, role: Role, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Tags of a created resource; the job's own tags go on results only."""
    tags = dict(extra or {}) if role is Role.result else {}
    tags.update({TAG_JOB: job_id, TAG_ROLE: role.value})
    return tags


@dataclass(frozen=True)
class Error:
    """Why something failed: Azure's error code and message (secrets redacted)."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Held:
    """What holds a step up while it is retried: the transient error it last met (Azure's
    503, a 429, Entra ID that issues no token, an endpoint that does not answer), and when.
    Recorded where the step's state is, so that ``status`` can say why a job is not moving
    (before, the reason was only in the workers' logs); removed once the step gets through.
    Routine waits (an operation Azure is still at, a lock another worker holds) are not
    recorded: they are how a step works, not what holds it up."""

    #: ``prepare``, ``copy``, ``finalize``, ``cleanup``, or ``watch`` (a target's copy watcher)
    step: str
    code: str
    message: str
    #: when it was met last (epoch seconds)
    at: float
    #: since when the step has been held up: the first of its errors in a row. The job record
    #: keeps a stored record's ``since`` when the next one replaces it (``diskferry.state``), so
    #: the task that meets an error need not read the record first
    since: float | None = None

    @property
    def began(self) -> float:
        """When the step's run of errors began (this one, unless told otherwise)."""
        return self.at if self.since is None else self.since

    def as_dict(self) -> dict[str, str | float]:
        return {"step": self.step, "code": self.code, "message": self.message, "at": round(self.at, 1),
                "since": round(self.began, 1)}

    @classmethod
    def of(cls, doc: object) -> Held | None:
        """The held-up record stored as ``doc`` (None: none, or not one)."""
        if not isinstance(doc, dict) or not doc.get("code"):
            return None
        at = float(doc.get("at") or 0.0)
        return cls(str(doc.get("step") or ""), str(doc["code"]), str(doc.get("message") or ""), at,
                   float(doc.get("since") or at))


@dataclass
class Disk:
    """One disk of a source, as resolved against Azure."""

    key: DiskKey
    #: the name of the disk (or snapshot) the source refers to
    name: str
    #: ARM id of the disk or snapshot that holds the data
    resource_id: str
    kind: ExportKind
    size_bytes: int
    sku: str | None
    lun: int | None = None
    os_type: str | None = None
    hyper_v_generation: str | None = None
    caching: str | None = None
    #: the disk encryption set of a disk encrypted with a customer-managed key, and Azure's
    #: encryption type of it (``EncryptionAtRestWithCustomerKey`` or ``...PlatformAndCustomerKeys``);
    #: None: platform-managed keys
    encryption_set: str | None = None
    encryption_type: str | None = None
    #: an OS disk's security type (``TrustedLaunch``): its copy is made one too; None: Standard
    security_type: str | None = None

    @property
    def size_gib(self) -> float:
        return self.size_bytes / 1024**3


@dataclass
class Source:
    key: SourceKey
    kind: SourceKind
    subscription_id: str
    resource_group: str
    name: str
    location: str
    resource_id: str
    disks: list[Disk] = field(default_factory=list)
    #: images only
    os_state: str | None = None
    hyper_v_generation: str | None = None
    #: VMs only: what a rebuilt VM takes from its source by default
    vm_size: str | None = None
    power_state: str | None = None
    #: a Trusted Launch VM (``TrustedLaunch``) and its UEFI settings, which a rebuilt VM takes
    #: (its vTPM starts afresh: diskferry copies disks, not the VM guest state); None: Standard
    security_type: str | None = None
    secure_boot: bool | None = None
    vtpm: bool | None = None

    def disk(self, key: DiskKey) -> Disk:
        for d in self.disks:
            if d.key == key:
                return d
        raise KeyError(f"source {self.key} has no disk {key}")


@dataclass
class StagingAccount:
    """The storage account that receives VHDs in one region."""

    name: str
    resource_group: str
    region: str
    #: created (and deleted) by the job, or the operator's own
    created_by_job: bool


@dataclass(frozen=True)
class Encryption:
    """Server-side encryption with a customer-managed key: the disk encryption set, and its type."""

    set_id: str
    #: ``EncryptionAtRestWithCustomerKey`` or ``EncryptionAtRestWithPlatformAndCustomerKeys``
    type: str

    @property
    def set_name(self) -> str:
        return self.set_id.rsplit("/", 1)[-1]

    @property
    def request(self) -> tuple[str, str]:
        """What the Compute facade takes: ``(set id, type)``."""
        return (self.set_id, self.type)


class Power(StrEnum):
    """The power state a rebuilt VM is left in (Azure's ``PowerState/...`` codes)."""

    running = "running"
    stopped = "stopped"  #: powered off, still allocated (and billed)
    deallocated = "deallocated"


@dataclass
class VmRequest:
    """The VM a target rebuilds from each VM source's copied disks, as resolved at plan time."""

    #: name template ({source} {source_rg} {region} {rg} {job}); its NIC is ``<vm>-nic``
    name: str
    #: ARM id of the subnet its NIC goes in (in the target's region)
    subnet_id: str
    #: None: the source VM's size
    size: str | None = None
    #: None: the source's power state at plan time
    power: Power | None = None
    availability_set_id: str | None = None
    public_ip: bool = False


@dataclass
class Target:
    key: TargetKey
    region: str
    resource_group: str
    subscription_id: str
    sku: str | None = None
    zone: str | None = None
    #: None for a target in a source's own region that needs no staging copy
    staging: StagingAccount | None = None
    #: the VM rebuilt from each VM source's disks (``vm:`` in the job file); None: disks only
    vm: VmRequest | None = None
    #: the disk encryption set every disk (and image) made here is encrypted with (``disk_encryption_set``)
    encryption: Encryption | None = None
    #: disks a source encrypts with a customer-managed key may land here under platform-managed
    #: keys (``platform_keys``): the operator said so; otherwise the planner refuses them
    platform_keys: bool = False

    def encryption_of(self, source: Source, disk: Disk) -> Encryption | None:
        """The encryption of ``disk``'s copy here: the target's set; else, in the source's own
        region and subscription, the disk's own set (a set serves only those); else
        platform-managed keys."""
        if self.encryption is not None:
            return self.encryption
        own = disk.encryption_set
        if own and disk.encryption_type and same_region(source.location, self.region) \
                and own.split("/")[2].lower() == self.subscription_id.lower():
            return Encryption(own, disk.encryption_type)
        return None

    def encryption_request(self, source: Source, disk: Disk) -> tuple[str, str] | None:
        """:meth:`encryption_of` as the Compute facade takes it."""
        found = self.encryption_of(source, disk)
        return found.request if found is not None else None


@dataclass
class Options:
    consistency: Consistency = Consistency.snapshot
    name: str = "{source}-{disk}-{region}"
    image_name: str = "{source}-{region}"
    image: ImageMode = ImageMode.auto
    keep_image_disks: bool = False
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Header:
    """A job without its sources: what every task may read, small whatever the job's size.

    The targets are few (a job file lists them); the sources are many, and a task reads the
    one it works on (:meth:`diskferry.state.JobStore.pair`).
    """

    id: str
    created: float
    targets: list[Target]
    options: Options = field(default_factory=Options)
    #: how many (source, target) pairs copy through each job-made or operator's staging account,
    #: by name: a pair's cleanup knows it is an account's last user without reading every source
    staging_pairs: dict[str, int] = field(default_factory=dict)
    #: how many (source, target) pairs the job has: the last pair cleaned knows the job is over
    #: (0 in a record made before it was kept: the job's watchdog finds that out instead)
    pair_count: int = 0

    def target(self, key: TargetKey) -> Target:
        for t in self.targets:
            if t.key == key:
                return t
        raise KeyError(f"job {self.id} has no target {key}")

    def staged(self, source: Source, target: Target) -> bool:
        """Whether the pair copies through a staging account (not a same-region clone)."""
        return not same_region(source.location, target.region)

    def builds_image(self, source: Source) -> bool:
        mode = self.options.image
        if mode is ImageMode.auto:
            return source.kind is SourceKind.image
        return mode is ImageMode.always

    def rebuilds_vm(self, source: Source, target: Target) -> bool:
        """Whether the pair ends with a VM made from its disks (VM sources of a ``vm:`` target)."""
        return target.vm is not None and source.kind is SourceKind.vm and not self.builds_image(source)


class Pair(NamedTuple):
    """What a task of one (source, target) pair reads: the job's header, its source, its target."""

    job: Header
    source: Source
    target: Target


@dataclass
class Job(Header):
    """A job as resolved against Azure: the header and every source.

    Every source goes to every target; each (source, target) pair is one canvas. Tasks read a
    :class:`Pair`; the whole job is for the producer, views and the job's watchdog.
    """

    sources: list[Source] = field(default_factory=list)

    def __post_init__(self) -> None:
        counts: dict[str, int] = {}
        for source, target in self.pairs():
            if self.staged(source, target) and target.staging is not None:
                counts[target.staging.name] = counts.get(target.staging.name, 0) + 1
        self.staging_pairs = counts
        self.pair_count = len(self.sources) * len(self.targets)

    def source(self, key: SourceKey) -> Source:
        for s in self.sources:
            if s.key == key:
                return s
        raise KeyError(f"job {self.id} has no source {key}")

    def pairs(self) -> list[tuple[Source, Target]]:
        return [(s, t) for s in self.sources for t in self.targets]

    def pairs_using(self, account: StagingAccount) -> list[tuple[Source, Target]]:
        return [
            (s, t)
            for s, t in self.pairs()
            if self.staged(s, t) and t.staging is not None and t.staging.name == account.name
        ]

    def header(self) -> Header:
        return Header(self.id, self.created, self.targets, self.options, self.staging_pairs, self.pair_count)

    def to_json(self) -> dict[str, Any]:
        return dict(_JOB.dump_python(self, mode="json"))


def same_region(a: str, b: str) -> bool:
    """Azure accepts "West Europe" and "westeurope" for the same region."""
    return normalize_region(a) == normalize_region(b)


def normalize_region(region: str) -> str:
    return region.replace(" ", "").lower()


_JOB: TypeAdapter[Job] = TypeAdapter(Job)
