"""The job file: what an operator asks for, validated before anything is planned or enqueued.

YAML or JSON. ``python -m diskferry.producer.jobfile`` prints the JSON Schema (kept in
``docs/jobfile.schema.json``). A file that does not validate raises
:class:`~diskferry.errors.JobFileError` naming the field (``targets[1].region``).
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from diskferry import naming, rules
from diskferry.errors import JobFileError
from diskferry.model import Consistency, ImageMode

#: disk SKUs Azure knows (a typo here would otherwise fail only at import time)
DISK_SKUS = ("Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "PremiumV2_LRS", "UltraSSD_LRS",
             "StandardSSD_ZRS", "Premium_ZRS")
#: SKUs Azure does not use for an OS disk ("Usable as OS Disk? No": Microsoft's "Azure managed
#: disk types"; and an Ultra disk "can only be created as an empty disk"). A target's ``sku``
#: applies to every disk it receives, and every source has an OS disk: refused at submit, not
#: after the copies, when the OS disk's import or the VM is refused
DATA_ONLY_SKUS = frozenset({"PremiumV2_LRS", "UltraSSD_LRS"})

#: a job file larger than this is refused before it is read (job files are a few KiB; a
#: mistaken path to a disk image or a log must not be loaded into memory)
MAX_BYTES = 1024 * 1024


def _rule(problem: Any) -> Any:
    """A validator from a ``diskferry.rules`` check: the value, or the rule it breaks."""

    def check(value: str) -> str:
        found = problem(value)
        if found:
            raise ValueError(found)
        return value

    return AfterValidator(check)


#: checked by Azure's rule (and never put into an ARM URL otherwise: ``..`` would climb the path)
Name = Annotated[str, _rule(rules.resource_group_problem), Field(json_schema_extra={
    "minLength": 1, "maxLength": 90, "pattern": r"^[A-Za-z0-9_().-]*[A-Za-z0-9_()-]$"})]
SubscriptionId = Annotated[str, _rule(rules.subscription_problem), Field(json_schema_extra={"format": "uuid"})]
ResourceName = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SourceSpec(_Model):
    """VMs and managed images in one resource group."""

    subscription_id: SubscriptionId | None = Field(None, description="default: AZURE_SUBSCRIPTION_ID")
    resource_group: Name
    vms: list[ResourceName] = Field(default_factory=list, description="OS + data disks of each VM")
    images: list[ResourceName] = Field(default_factory=list, description="managed images: their OS + data disks")

    @model_validator(mode="after")
    def _something(self) -> SourceSpec:
        if not self.vms and not self.images:
            raise ValueError("name at least one VM (vms) or image (images)")
        for kind, items in (("vms", self.vms), ("images", self.images)):
            lowered = [n.lower() for n in items]
            dup = {n for n in lowered if lowered.count(n) > 1}
            if dup:
                raise ValueError(f"{kind} lists {', '.join(sorted(dup))} more than once")
        return self


Zone = Literal["1", "2", "3"]


def _zone_as_text(v: Any) -> Any:
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class VmSpec(_Model):
    """The VM rebuilt at a target from each VM source's copied disks: a NIC in ``subnet``, the
    OS disk attached, the data disks at the source's LUNs with the source's caching."""

    name: str = Field("{source}-{region}", description="VM name template; placeholders: {source} {source_rg} "
                      "{region} {rg} {job}; its NIC is named <vm>-nic")
    subnet: Annotated[str, Field(min_length=3, max_length=1024)] = Field(
        description="the subnet of its NIC: a subnet id, vnet/subnet (in the target's resource group) or "
        "resource-group/vnet/subnet; in the target's region")
    size: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{2,64}$")] | None = Field(
        None, description="VM size (Standard_D2s_v5); default: the source VM's size")
    zone: Zone | None = Field(None, description="availability zone of the VM and its disks; default: the "
                              "target's zone")
    availability_set: Annotated[str, Field(min_length=1, max_length=1024)] | None = Field(
        None, description="an existing availability set: its id or its name in the target's resource group "
        "(not with a zone)")
    public_ip: bool = Field(False, description="a static Standard public IP on its NIC, named <vm>-ip")
    power: Literal["running", "stopped", "deallocated"] | None = Field(
        None, description="the power state it is left in; default: the source VM's at plan time")

    _zone = field_validator("zone", mode="before")(classmethod(lambda cls, v: _zone_as_text(v)))

    @field_validator("name")
    @classmethod
    def _name_template(cls, v: str) -> str:
        naming.check_template(v, image=True)
        return v

    @model_validator(mode="after")
    def _zone_or_set(self) -> VmSpec:
        if self.zone and self.availability_set:
            raise ValueError("give a zone or an availability set, not both (Azure does not deploy an "
                             "availability set to a zone)")
        return self


class TargetSpec(_Model):
    """A region (and resource group) that receives a copy of every source."""

    region: Annotated[str, Field(min_length=2, max_length=40, pattern=r"^[A-Za-z0-9 ]+$")]
    resource_group: Name = Field(description="created when absent")
    subscription_id: SubscriptionId | None = Field(None, description="default: the source's subscription")
    staging_account: Annotated[str, Field(pattern=r"^[a-z0-9]{3,24}$")] | None = Field(
        None, description="an existing storage account in the region; when omitted the job creates one and "
        "deletes it at the end")
    sku: Literal[DISK_SKUS] | None = Field(None, description="disk SKU at the target, for every disk the OS disk "  # type: ignore[valid-type]
                                           "included (so not PremiumV2_LRS or UltraSSD_LRS); default: the "
                                           "source disk's")
    zone: Zone | None = Field(None, description="availability zone of the destination disks")
    vm: VmSpec | None = Field(None, description="rebuild each source VM here from its copied disks "
                              "(VM sources only)")
    disk_encryption_set: Annotated[str, Field(min_length=1, max_length=1024)] | None = Field(
        None, description="a disk encryption set in the target's region (its id, or its name in the target's "
        "resource group): every disk and image made here is encrypted with its customer-managed key")
    platform_keys: bool = Field(False, description="accept platform-managed keys here for source disks "
                                "encrypted with a customer-managed key (refused otherwise: a disk encryption "
                                "set serves one region, so their copies need disk_encryption_set)")

    @field_validator("zone", mode="before")
    @classmethod
    def _zone_as_text(cls, v: Any) -> Any:
        return _zone_as_text(v)

    @field_validator("sku")
    @classmethod
    def _sku_for_every_disk(cls, v: str | None) -> str | None:
        if v in DATA_ONLY_SKUS:
            raise ValueError(f"{v} applies to every disk of the target, the OS disk too, and Azure does not use "
                             "Premium SSD v2 or Ultra disks as OS disks (an Ultra disk is only ever created empty); "
                             "choose Premium_LRS, Premium_ZRS, StandardSSD_LRS, StandardSSD_ZRS or Standard_LRS")
        return v

    @model_validator(mode="after")
    def _one_zone(self) -> TargetSpec:
        vm = self.vm
        if vm is not None and vm.zone and self.zone and vm.zone != self.zone:
            raise ValueError(f"vm.zone {vm.zone} differs from zone {self.zone}: a VM's disks are in its zone")
        if vm is not None and vm.availability_set and self.zone:
            raise ValueError("vm.availability_set with zone: Azure does not deploy an availability set to a zone")
        if self.disk_encryption_set and self.platform_keys:
            raise ValueError("give disk_encryption_set or platform_keys, not both")
        return self

    @property
    def disk_zone(self) -> str | None:
        """The zone the target's disks are made in: the target's, or its VM's."""
        return self.zone or (self.vm.zone if self.vm else None)


class OptionsSpec(_Model):
    consistency: Consistency = Field(
        Consistency.snapshot,
        description="snapshot: crash-consistent snapshots, the VM keeps running; deallocate: the VM is "
        "deallocated and started again afterwards; none: the disks are read as they are")
    name: str = Field("{source}-{disk}-{region}", description="destination disk names; placeholders: "
                      "{source} {source_rg} {disk} {key} {lun} {region} {rg} {job}")
    image_name: str = Field("{source}-{region}", description="destination image names; placeholders: "
                            "{source} {source_rg} {region} {rg} {job}")
    image: ImageMode | bool = Field(
        ImageMode.auto, description="auto: images are rebuilt as images, VMs give disks; true: VMs give an "
        "image too; false: images give their disks only")
    keep_image_disks: bool = Field(False, description="keep the disks an image was built from")
    tags: dict[Annotated[str, Field(min_length=1, max_length=512)], Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict, description="added to every result")

    @field_validator("name")
    @classmethod
    def _disk_template(cls, v: str) -> str:
        naming.check_template(v)
        return v

    @field_validator("image_name")
    @classmethod
    def _image_template(cls, v: str) -> str:
        naming.check_template(v, image=True)
        return v

    @field_validator("tags")
    @classmethod
    def _own_tags(cls, v: dict[str, str]) -> dict[str, str]:
        reserved = [k for k in v if k.lower().startswith("diskferry-")]
        if reserved:
            raise ValueError(f"tags starting with 'diskferry-' are diskferry's own: {', '.join(reserved)}")
        # refused here, not by the first import at a target once the copies are done
        broken = [problem for k in v if (problem := rules.tag_name_problem(k))]
        if broken:
            raise ValueError("; ".join(broken))
        return v

    @property
    def image_mode(self) -> ImageMode:
        if isinstance(self.image, bool):
            return ImageMode.always if self.image else ImageMode.never
        return self.image


class JobFile(_Model):
    """A replication job: sources (VMs, images) copied to every target region."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "source": {"resource_group": "FranceCentral", "vms": ["MASTER", "web-1"],
                               "images": ["golden-ubuntu"]},
                    "targets": [
                        {"region": "brazilsouth", "resource_group": "BrazilSouth", "sku": "Standard_LRS"},
                        {"region": "westeurope", "resource_group": "WestEurope", "zone": "1"},
                    ],
                    "options": {"consistency": "snapshot", "tags": {"owner": "ops"}},
                }
            ]
        },
    )

    source: SourceSpec | None = None
    sources: list[SourceSpec] = Field(default_factory=list, description="several resource groups (instead of source)")
    targets: list[TargetSpec] = Field(min_length=1)
    options: OptionsSpec = Field(default_factory=OptionsSpec)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _shape(self) -> JobFile:
        if (self.source is None) == (not self.sources):
            raise ValueError("give exactly one of 'source' or 'sources'")
        seen: set[tuple[str, str]] = set()
        for t in self.targets:
            key = (t.region.replace(" ", "").lower(), t.resource_group.lower())
            if key in seen:
                raise ValueError(f"target {t.region}/{t.resource_group} is listed twice")
            seen.add(key)
        return self

    @property
    def all_sources(self) -> list[SourceSpec]:
        return [self.source] if self.source is not None else list(self.sources)


_BRANCH = re.compile(r"^([a-z-]+\[.*\]|str|bool|int|float|none)$")


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _BRANCH.match(part):
            continue  # pydantic names the branch of a union it tried (``str-enum[ImageMode]``, ``bool``)
        else:
            out += ("." if out else "") + part
    return out


def parse(data: Any) -> JobFile:
    """Validate an already-loaded document."""
    if not isinstance(data, dict):
        raise JobFileError("", "a job file is a mapping with 'source' (or 'sources'), 'targets' and 'options'")
    try:
        return JobFile.model_validate(data)
    except ValidationError as exc:
        problems = [(_field(tuple(e["loc"])), _message(e)) for e in exc.errors()]
        err = JobFileError(*problems[0])
        err.errors = problems
        raise err from None


def _message(error: Any) -> str:
    """pydantic's message, in the job file's words (every error, not only the first)."""
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return str(error["msg"]).removeprefix("Value error, ")


def read_text(p: Path) -> str:
    """The file's text: a regular file of at most MAX_BYTES, in UTF-8.

    Opened without blocking (a FIFO would otherwise wait for a writer forever), checked with
    ``fstat`` on the open descriptor (no race with a rename), and read only after its size is
    known to be under the cap.
    """
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise JobFileError("", f"cannot read {p}: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        # checked before wrapping the descriptor: Python refuses to open a directory as a file
        os.close(fd)
        raise JobFileError("", f"{p} is not a regular file ({_kind(info.st_mode)})")
    with os.fdopen(fd, "rb") as f:
        # the size, then a bounded read: a file that grows in between is still cut at the cap
        data = f.read(MAX_BYTES + 1) if info.st_size <= MAX_BYTES else b""
    if info.st_size > MAX_BYTES or len(data) > MAX_BYTES:
        raise JobFileError("", f"{p} is larger than {MAX_BYTES // 1024} KiB; a job file is a few KiB of YAML or JSON")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JobFileError("", f"{p} is not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x})") from None


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a file"


def load(path: Path | str) -> JobFile:
    """Read a YAML or JSON job file (JSON is YAML)."""
    p = Path(path)
    text = read_text(p)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise JobFileError("", f"{p.name} is not valid YAML/JSON{where}") from None
    return parse(data)


def schema() -> dict[str, Any]:
    doc = JobFile.model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "diskferry job file"
    return doc


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
