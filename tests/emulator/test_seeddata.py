"""The seeded bytes: where they go on a disk, and that they depend only on seed and names."""

from __future__ import annotations

import itertools

import pytest

from diskferry.emulator.seeddata import PAGE, layout, region_bytes

GIB = 1024**3
MIB = 1024**2


@pytest.mark.parametrize(("size", "data", "regions"), [(GIB, 2 * MIB, 3), (1024 * GIB, 3 * MIB, 4), (MIB, 4 * MIB, 2)])
def test_layout_is_disjoint_aligned_and_covers_both_edges(size: int, data: int, regions: int) -> None:
    spots = layout(7, "rg", "disk", size, data, regions)
    assert spots == layout(7, "RG", "DISK", size, data, regions)  # Azure names are case-insensitive
    assert spots[0][0] == 0 and spots[-1][0] + spots[-1][1] == size
    for (a, alen), (b, _) in itertools.pairwise(spots):
        assert a + alen <= b
    assert all(off % PAGE == 0 and length % PAGE == 0 for off, length in spots)
    assert sum(length for _, length in spots) == min(data, size)


def test_data_is_deterministic_per_seed_and_disk() -> None:
    one = region_bytes(1, "rg", "d1", 0, 4096)
    assert one == region_bytes(1, "rg", "d1", 0, 4096)
    assert one != region_bytes(2, "rg", "d1", 0, 4096)
    assert one != region_bytes(1, "rg", "d2", 0, 4096)
    assert len(set(one)) > 200  # random bytes, not a pattern
