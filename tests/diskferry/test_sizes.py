"""The one size formatting every CLI shows."""

from __future__ import annotations

import pytest

from diskferry.sizes import human_size


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (None, "-"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (64 * 1024**3, "64 GiB"),
        (1024**4, "1 TiB"),
        (int(2.5 * 1024**2), "2.5 MiB"),
        (2048 * 1024**4, "2048 TiB"),
    ],
)
def test_exact_where_the_unit_divides_else_one_decimal(n: int | None, shown: str) -> None:
    assert human_size(n) == shown
