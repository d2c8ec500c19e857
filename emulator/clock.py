"""Time in the forms Azure writes it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    return time.time()


def iso(ts: float | None = None) -> str:
    """ARM-style timestamp: ``2026-11-26T03:16:25.1234567+00:00``."""
    dt = datetime.fromtimestamp(now() if ts is None else ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0+00:00"


def rfc1123(ts: float | None = None) -> str:
    """Storage-style timestamp for headers such as ``Last-Modified``."""
    dt = datetime.fromtimestamp(now() if ts is None else ts, UTC)
    return dt.strftime("%a, %d %b %Y %H:%M:%S GMT")


def parse_iso(value: str) -> float:
    """Parse the ISO 8601 forms found in SAS tokens (``2026-11-26T03:16:25Z``)."""
    v = value.strip().replace("Z", "+00:00")
    # Fractions longer than microseconds (Azure writes 7 digits) are cut for fromisoformat.
    if "." in v:
        head, _, tail = v.partition(".")
        frac = ""
        rest = ""
        for i, ch in enumerate(tail):
            if not ch.isdigit():
                rest = tail[i:]
                break
            frac += ch
        v = f"{head}.{frac[:6]}{rest}"
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
