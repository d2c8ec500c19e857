"""Adaptive polling: properties of the policy (bounds, tightening), not timings."""

from __future__ import annotations

import itertools
import random

import pytest

from diskferry.config.settings import Settings, SettingsError
from diskferry.pipeline.polling import PollPolicy, eta_of, smoothed_rate

POLICY = PollPolicy(initial=15, floor=2, ceiling=600, eta_fraction=0.4, lag_fraction=0.01, growth=1.0)


def test_every_countdown_stays_within_floor_and_ceiling() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        elapsed = rng.uniform(0, 8 * 3600)
        eta = rng.choice([None, 0.0, -5.0, rng.uniform(0, 30), rng.uniform(0, 30 * 24 * 3600)])
        assert 2 <= POLICY.next_poll(elapsed, eta) <= 600


def test_polls_tighten_as_the_end_nears() -> None:
    """At any age, a copy with less left to do is polled no later than one with more."""
    for elapsed in (0.0, 60.0, 1800.0, 4 * 3600.0):
        countdowns = [POLICY.next_poll(elapsed, eta) for eta in range(8 * 3600, -1, -30)]
        assert all(b <= a for a, b in itertools.pairwise(countdowns))
        assert countdowns[-1] == POLICY.lag_budget(elapsed, 0)


def test_no_countdown_outgrows_the_copy_age() -> None:
    """An ETA that progress over a sparse disk makes far too long waits no longer than the age."""
    assert POLICY.next_poll(100, 10 * 3600) == 100
    assert POLICY.next_poll(5, 10 * 3600) == 15


def test_near_the_end_the_lag_aimed_at_decides() -> None:
    """Close to its end a long copy is polled every 1 % of its duration, a short one at the floor."""
    assert POLICY.next_poll(4 * 3600, 10) == pytest.approx(0.01 * (4 * 3600 + 10))
    assert POLICY.next_poll(50, 1) == 2


def test_without_a_rate_the_countdown_grows_with_the_wait() -> None:
    assert POLICY.next_poll(0, None) == 15
    waits = [POLICY.next_poll(elapsed, None) for elapsed in (0, 100, 1000, 10000)]
    assert waits == sorted(waits) and waits[-1] == 600


def test_rate_is_smoothed_and_ignores_samples_without_time() -> None:
    assert smoothed_rate(None, 0, 0, 10, 1000) == 100
    assert smoothed_rate(100, 10, 1000, 20, 4000) == 200  # half the old, half the new (300)
    assert smoothed_rate(100, 10, 1000, 10, 5000) == 100
    assert smoothed_rate(100, 10, 1000, 20, 500) == 100  # the count went back (a restarted copy)
    assert eta_of(200, 1000, 5000) == 20 and eta_of(None, 0, 10) is None and eta_of(0.0, 0, 10) is None


def test_policy_from_settings_keeps_countdowns_under_the_visibility_timeout() -> None:
    short = PollPolicy.of(Settings.from_env({"DISKFERRY_VISIBILITY_TIMEOUT": "400", "DISKFERRY_POLL_SECONDS": "1"}))
    assert short.ceiling == 200 and short.floor == 1  # a faster first poll lowers the floor
    default = PollPolicy.of(Settings())
    # half the default 10-minute visibility timeout
    assert (default.initial, default.floor, default.ceiling) == (15, 2, 300)
    chosen = PollPolicy.of(Settings.from_env({"DISKFERRY_POLL_CEILING_SECONDS": "120"}))
    assert chosen.ceiling == 120


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DISKFERRY_POLL_FLOOR_SECONDS": "0"}, "DISKFERRY_POLL_FLOOR_SECONDS"),
        ({"DISKFERRY_POLL_CEILING_SECONDS": "1"}, "DISKFERRY_POLL_CEILING_SECONDS"),
        ({"DISKFERRY_POLL_CEILING_SECONDS": "20000"}, "DISKFERRY_VISIBILITY_TIMEOUT"),
        ({"DISKFERRY_POLL_ETA_FRACTION": "1"}, "DISKFERRY_POLL_ETA_FRACTION"),
        ({"DISKFERRY_POLL_LAG_FRACTION": "0"}, "DISKFERRY_POLL_LAG_FRACTION"),
        ({"DISKFERRY_POLL_LAG_FRACTION": "often"}, "DISKFERRY_POLL_LAG_FRACTION"),
    ],
)
def test_bad_polling_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)
