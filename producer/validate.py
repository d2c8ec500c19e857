"""What a job file can only be checked against once its sources are resolved: target regions
against the subscription's, destination names against Azure's rules, destinations that
would be the sources themselves, disks whose copy Azure would refuse to make, disks whose
customer-managed key would be lost, and managed images Azure makes of no Trusted Launch VM.

One pass, called once by the planner before it plans any step; every problem is
reported at once, as a :class:`~diskferry.errors.JobFileError` naming the field
(``targets[1].region``, ``options.name``), so the operator fixes the file in one go.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from diskferry import rules
from diskferry.cloud import ResourceId
from diskferry.errors import JobFileError, NotFound
from diskferry.model import Job, Role, Source, Target, normalize_region
from diskferry.pipeline import layout
from diskferry.producer import vms
from diskferry.producer.jobfile import JobFile

if TYPE_CHECKING:
    from diskferry.cloud import Cloud

Problem = tuple[str, str]


def check(spec: JobFile, job: Job, cloud: Cloud) -> None:
    """Raise JobFileError listing every problem of ``job``, resolved from ``spec``; return if
    there is none."""
    problems = [*_regions(spec, job, cloud), *_destinations(job), *_skus(job), *_keys(job), *_images(job)]
    if not problems:  # a VM's network and size are looked up in a region known to exist
        problems = vms.check(spec, job, cloud)
    if problems:
        err = JobFileError(*problems[0])
        err.errors = problems
        raise err


def _regions(spec: JobFile, job: Job, cloud: Cloud) -> list[Problem]:
    """A misspelled region (``westeurpoe``) would otherwise fail only when the first resource is
    created there, after the sources were snapshotted and granted."""
    out: list[Problem] = []
    for i, target in enumerate(job.targets):
        try:
            known = cloud.subscriptions.regions(target.subscription_id)
        except NotFound as exc:
            out.append((f"targets[{i}].subscription_id", f"{target.subscription_id}: {exc.code}: {exc.message}"))
            continue
        region = normalize_region(target.region)
        if region in known:
            continue
        close = difflib.get_close_matches(region, sorted(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        written = spec.targets[i].region
        out.append((f"targets[{i}].region",
                    f"{written!r} is not a region of subscription {target.subscription_id}{hint}"))
    return out


def _destinations(job: Job) -> list[Problem]:
    """Every result name as the templates render it, checked against Azure's rules and
    against the job's own sources; each problem once per template and name."""
    sources = {s.resource_id.lower(): s for s in job.sources}
    source_disks = {d.resource_id.lower(): (s, d.key) for s in job.sources for d in s.disks}
    out: list[Problem] = []
    for source in job.sources:
        for target in job.targets:
            for disk in source.disks:
                dest = layout.destination(job, source, target, disk)
                if dest.role is Role.result:
                    made = f"{_what(source)} disk {disk.key} at {target.key}"
                    out += _name("options.name", job.options.name, dest.name, "disk", made)
                    hit = source_disks.get(dest.id.lower())
                    if hit is not None:
                        out.append(("options.name", _overwrite(job.options.name, dest.id, f"{_what(hit[0])} "
                                                               f"disk {hit[1]}", target)))
            if job.builds_image(source):
                image = layout.image_id(job, source, target)
                name = image.rsplit("/", 1)[1]
                out += _name("options.image_name", job.options.image_name, name, "image",
                             f"{_what(source)} at {target.key}")
                if image.lower() in sources:
                    out.append(("options.image_name", _overwrite(job.options.image_name, image,
                                                                 _what(sources[image.lower()]), target)))
    return list(dict.fromkeys(out))


def _skus(job: Job) -> list[Problem]:
    """A disk copied as an Ultra disk: Azure creates an Ultra disk only empty, never from a VHD
    or another disk (Microsoft's "Azure managed disk types"), so its import (or in-region
    Copy) would fail after the copy. A
    target's own ``sku`` is checked by the job file (``jobfile.DATA_ONLY_SKUS``); this is a
    source's Ultra data disk, copied with its own SKU when the target names none."""
    out: list[Problem] = []
    for i, target in enumerate(job.targets):
        if target.sku:
            continue
        for source in job.sources:
            out += [(f"targets[{i}].sku", f"{_what(source)} disk {disk.key} ({disk.name}) is an Ultra disk, and Azure "
                     "creates Ultra disks only empty, never as a copy: give the target a sku for its "
                     "copies (Premium_LRS, say)")
                    for disk in source.disks if disk.sku == "UltraSSD_LRS"]
    return out


def _keys(job: Job) -> list[Problem]:
    """A disk under a customer-managed key copied where no disk encryption set is named: Azure
    would import it under platform-managed keys, quietly dropping the operator's key. A set
    serves one region (its disks, key vault and set share region and subscription), so the
    source's set can follow its disks only within the source's region."""
    out: list[Problem] = []
    for i, target in enumerate(job.targets):
        if target.encryption is not None or target.platform_keys:
            continue
        for source in job.sources:
            out += [(f"targets[{i}].disk_encryption_set",
                     f"{_what(source)} disk {disk.key} ({disk.name}) is encrypted with a customer-managed key (disk "
                     f"encryption set {disk.encryption_set.rsplit('/', 1)[-1]}), which serves only "
                     f"{source.location} in its own subscription: name a disk encryption set in {target.region} for "
                     "its copies, or set platform_keys: true to accept platform-managed keys there")
                    for disk in source.disks
                    if disk.encryption_set and target.encryption_of(source, disk) is None]
    return out


def _images(job: Job) -> list[Problem]:
    """A managed image of a Trusted Launch VM: Azure refuses it ("Creation of managed images are
    not supported for virtual machine with TrustedLaunch security type", hashicorp/packer#13189),
    and a managed image has no security type to carry; refused here, not after the copies."""
    return [("options.image", f"{_what(source)} is a {source.security_type} VM, and Azure makes no managed image "
             "of one: replicate its disks (options.image: false) or rebuild it with vm: on the targets")
            for source in job.sources if source.security_type and job.builds_image(source)]


def _name(field: str, template: str, name: str, what: str, made: str) -> list[Problem]:
    problem = rules.compute_name_problem(name, what)
    if problem is None:
        return []
    return [(field, f"{problem}; the template {template!r} makes it for {made}")]


def _overwrite(template: str, resource_id: str, what: str, target: Target) -> str:
    rid = ResourceId.parse(resource_id)
    return (f"the template {template!r} names {rid.resource_group}/{rid.name} at target {target.key}, which is "
            f"{what} itself: the copy would overwrite its own source; use another resource group or a "
            "template with {region} or {job}")


def _what(source: Source) -> str:
    return f"{source.kind.value} {source.resource_group}/{source.name}"
