"""When to look at a running copy again: adaptive polling, from the copy's observed progress.

Fixed-interval polling pays for a 4-hour copy as many status calls as the interval allows
(every 15 s: ~960) and still detects a 1-minute copy's end up to a whole interval late.
Here the next poll of a copy comes after a fraction (``eta_fraction``) of its remaining time,
so polls are sparse while the end is far and tighten geometrically as it nears, and never
later than the detection lag aimed at once the end is close: ``lag_fraction`` of the
copy's expected duration, at least ``floor``. A copy may speed up by ``1 / eta_fraction``
between two polls before its end is detected later than that.

No countdown is longer than ``growth`` times the copy's age (at least ``initial``): Azure's
``x-ms-copy-progress`` is an offset that leaps across the empty ranges of a sparse disk, so
an ETA may be far too long, and a copy that ends early is then seen within half of its
age (growth 1). While no rate is known (no progress seen yet), that is the countdown: it
grows with the time already waited, so a copy queued in Azure costs few calls. Every countdown
stays within ``[floor, ceiling]``; the ceiling stays under a quarter of the Redis visibility
timeout, because a countdown message sits unacked in the worker meanwhile.

Pure arithmetic: ``scripts/sim_polling.py`` runs it over simulated copies and prints the
status calls and detection lag it gives against fixed polling.
"""

from __future__ import annotations

from dataclasses import dataclass

from diskferry.config.settings import Settings

#: the longest countdown when none is configured
DEFAULT_CEILING = 600.0
#: weight of the newest sample in the smoothed rate
RATE_WEIGHT = 0.5


@dataclass(frozen=True)
class PollPolicy:
    #: countdown before the first poll and while no rate is known
    initial: float = 15.0
    floor: float = 2.0
    ceiling: float = DEFAULT_CEILING
    eta_fraction: float = 0.4
    lag_fraction: float = 0.01
    #: no countdown exceeds this share of the copy's age (or ``initial``)
    growth: float = 1.0

    @classmethod
    def of(cls, settings: Settings) -> PollPolicy:
        floor = min(settings.poll_floor_seconds, settings.poll_seconds)
        ceiling = settings.poll_ceiling_seconds or min(DEFAULT_CEILING, settings.max_poll_countdown)
        return cls(
            initial=settings.poll_seconds, floor=floor, ceiling=max(floor, ceiling),
            eta_fraction=settings.poll_eta_fraction, lag_fraction=settings.poll_lag_fraction,
            growth=settings.poll_growth,
        )

    def _bounded(self, seconds: float) -> float:
        return min(self.ceiling, max(self.floor, seconds))

    def lag_budget(self, elapsed: float, eta: float) -> float:
        """The detection lag aimed at for a copy expected to last ``elapsed + eta`` seconds."""
        return max(self.floor, self.lag_fraction * (elapsed + eta))

    def next_poll(self, elapsed: float, eta: float | None) -> float:
        """Seconds until the next poll of a copy running for ``elapsed`` seconds, expected to
        end in ``eta`` seconds (None: no rate known yet)."""
        # progress is an offset, not a byte count: over a sparse disk it leaps across empty
        # ranges, so an ETA can be far too long; never wait longer than a share of the copy's age
        by_age = max(self.initial, self.growth * elapsed)
        if eta is None:
            return self._bounded(by_age)
        eta = max(0.0, eta)
        return self._bounded(min(by_age, max(self.lag_budget(elapsed, eta), self.eta_fraction * eta)))


def smoothed_rate(rate: float | None, last_time: float, last_bytes: int, now: float, copied: int) -> float | None:
    """Bytes per second, smoothed over polls: the previous estimate blended with the rate
    seen since the last sample (unchanged when no time passed or the count went back)."""
    if now <= last_time or copied < last_bytes:
        return rate
    fresh = (copied - last_bytes) / (now - last_time)
    return fresh if rate is None else (1 - RATE_WEIGHT) * rate + RATE_WEIGHT * fresh


def eta_of(rate: float | None, copied: int, total: int) -> float | None:
    """Seconds until ``total`` bytes are copied at ``rate`` (None while no rate is known)."""
    return (total - copied) / rate if rate else None
