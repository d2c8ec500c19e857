"""Timestamps as Azure writes them."""

from __future__ import annotations

import random
from email.utils import formatdate

from diskferry.emulator import clock


def test_rfc1123_is_the_http_date_of_the_second() -> None:
    rng = random.Random(5)
    stamps = [0.0, 951782400.5, 1798761599.999, *(rng.uniform(0, 4e9) for _ in range(2000))]
    for ts in stamps:
        assert clock.rfc1123(ts) == formatdate(ts, usegmt=True), ts
    assert clock.rfc1123(1798761599.999) == "Thu, 31 Dec 2026 23:59:59 GMT"
