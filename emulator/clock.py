"""Time in the forms Azure writes it."""

from __future__ import annotations

import functools
import math
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
    return _rfc1123_second(math.floor(now() if ts is None else ts))


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@functools.lru_cache(maxsize=4096)
def _rfc1123_second(second: int) -> str:
    # cached per second: every blob answer formats two or three of these, mostly the same
    # few (a blob's creation and last change); English names whatever the locale
    t = time.gmtime(second)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


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
