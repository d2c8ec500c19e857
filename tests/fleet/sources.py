"""Seeding VMs for the tests, each in a resource group of its own."""

from __future__ import annotations

import uuid
from typing import Any

from diskferry.emulator.seed import Seeded
from tests.fleet.conftest import Fleet


def unique_rg(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def seed_vms(fleet: Fleet, rg: str, *vms: dict[str, Any], location: str = "francecentral") -> list[Seeded]:
    """VMs (seed specs: name, os_disk, data_disks, ...) with 1 MiB of data per disk."""
    return fleet.seed({"resource_group": rg, "location": location, "data_mib": 1, "vms": list(vms)}).items
