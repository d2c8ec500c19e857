"""Seeding images for the tests. An image is replicated (as by ``az image copy``) from the
disks or snapshots it was built from, so the seed keeps its snapshots (``keep_snapshots``)."""

from __future__ import annotations

from typing import Any

from diskferry.emulator.seed import Seeded
from tests.fleet.conftest import Fleet


def seed_image(fleet: Fleet, rg: str, name: str, os_disk_gb: int, data: list[Any], os_type: str = "Linux",
               location: str = "francecentral") -> Seeded:
    image = {"name": name, "os_disk": os_disk_gb, "os_type": os_type, "data_disks": data, "keep_snapshots": True}
    return fleet.seed({"resource_group": rg, "location": location, "data_mib": 1, "images": [image]}).items[0]
