"""``diskferry gc``'s age option: what it accepts and what it refuses."""

from __future__ import annotations

import pytest

from diskferry.gc import parse_age


@pytest.mark.parametrize(("text", "seconds"), [("0", 0), ("90s", 90), ("30m", 1800), ("6h", 21600), ("2d", 172800),
                                               ("1.5h", 5400), (" 45 ", 45)])
def test_parse_age(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "abc", "5w", "-1h"])
def test_parse_age_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="age"):
        parse_age(text)
