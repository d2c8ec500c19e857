"""Byte counts for people: the one formatting of sizes, shared by every CLI.

It sits at the top of the package, beside the vocabulary, so that the producer and the
local Azure's CLI both import it and the runtime never imports the emulator to get it.
"""

from __future__ import annotations

_UNITS = (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))


def human_size(n: int | None) -> str:
    """``64 GiB``, ``1 TiB``, ``2.5 MiB``: exact where the unit divides, else one decimal;
    ``-`` for an unknown size."""
    if n is None:
        return "-"
    for unit, scale in _UNITS:
        if n >= scale:
            return f"{n // scale} {unit}" if n % scale == 0 else f"{n / scale:.1f} {unit}"
    return f"{n} B"
