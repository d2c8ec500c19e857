"""The bytes a seeded disk holds: a few regions of random data whose places and contents
depend only on (seed, resource group, disk name), so two seeds of one spec in two fresh
emulators give disks with equal hashes."""

from __future__ import annotations

import random

#: a page blob's (and a VHD's) unit of writing
PAGE = 512


def layout(seed: int, group: str, disk: str, size: int, data_bytes: int, regions: int) -> list[tuple[int, int]]:
    """Where a disk's random data goes: sorted, disjoint, page-aligned ``(offset, length)``.

    The first region starts at 0 (where a boot sector lives) and the last ends at the end
    of the disk, so exports and copies must get both edges right.
    """
    rng = _rng(seed, group, disk, "layout")
    regions = max(1, min(regions, data_bytes // PAGE))
    slot = size // regions // PAGE * PAGE  # each region in its own slot: they never overlap
    pages = min(data_bytes, slot * regions) // PAGE
    out = []
    for i in range(regions):
        # the pages split as evenly as they go: the lengths add up to exactly data_bytes
        length = (pages // regions + (1 if i < pages % regions else 0)) * PAGE
        if i == 0:
            offset = 0
        elif i == regions - 1:
            offset = size - length
        else:
            offset = i * slot + rng.randrange(0, max(1, (slot - length) // PAGE + 1)) * PAGE
        out.append((offset, length))
    return out


def region_bytes(seed: int, group: str, disk: str, offset: int, length: int) -> bytes:
    return _rng(seed, group, disk, str(offset)).randbytes(length)


def _rng(seed: int, group: str, disk: str, what: str) -> random.Random:
    # a str seed is hashed with SHA-512 by random.Random: stable across runs and versions
    return random.Random(f"{seed}/{group.lower()}/{disk.lower()}/{what}")
