"""A job record of many one-disk VMs to two regions, written straight into Redis, with its
disks spread over the phases a running job shows (no Azure involved)."""

from __future__ import annotations

import random

from diskferry.model import Job
from diskferry.state import JobStore
from tests.diskferry import factories

GIB = 1024**3


def many_disks(store: JobStore, vms: int, seed: int = 1) -> Job:
    """``vms`` VMs of one 32 GiB disk each to two targets (2 x ``vms`` destination disks)."""
    job = factories.job([factories.vm_source(f"vm{i:04}", data_disks=0) for i in range(vms)])
    store.create(job)
    rng = random.Random(seed)
    for source in job.sources:
        for target in job.targets:
            phase = rng.choice(["pending", "copying", "copying", "succeeded", "failed"])
            extra = {"error": {"code": "CannotVerifyCopySource", "message": f"{source.name} unreadable"}} \
                if phase == "failed" else {}
            copied = rng.randint(0, 32 * GIB) if phase == "copying" else 0
            store.update_disk(job.id, source.key, target.key, "os", phase=phase, bytes_copied=copied,
                              rate=rng.uniform(1e6, 1e8) if phase == "copying" else None,
                              eta=rng.uniform(10, 3600) if phase == "copying" else None, **extra)
    return job
