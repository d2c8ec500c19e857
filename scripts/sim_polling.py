"""Adaptive polling (``diskferry.pipeline.polling``) over simulated copies, against fixed polling.

For copies of 1 min to 8 h, with a steady rate and with a rate that changes every twentieth
of the copy (each stretch at 0.25x to 1.75x, at random), it polls the way a copy task does:
the first poll after ``DISKFERRY_POLL_SECONDS``, then after the policy's countdown computed
from the smoothed rate the poll saw. Prints, per row, the status calls per copy, the ratio to
fixed 10 s polling (the manual method's sleep loop), and the detection lag (poll that saw the
end minus the end) at p50/p90/max, with the lag aimed at: max(2 s, 2 % of the copy).

    .venv/bin/python scripts/sim_polling.py [--copies 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from diskferry.config.settings import Settings
from diskferry.pipeline.polling import PollPolicy, eta_of, smoothed_rate

DURATIONS = [60, 5 * 60, 30 * 60, 3600, 2 * 3600, 4 * 3600, 8 * 3600]
FIXED = 10.0
STRETCHES = 20


@dataclass(frozen=True)
class Copy:
    """Bytes copied over time: piecewise-constant rates ending exactly at ``duration``."""

    duration: float
    starts: list[float]
    done: list[float]
    rates: list[float]

    @classmethod
    def make(cls, duration: float, rng: random.Random | None) -> Copy:
        step = duration / STRETCHES
        rates = [1.0 if rng is None else rng.uniform(0.25, 1.75) for _ in range(STRETCHES)]
        starts = [i * step for i in range(STRETCHES)]
        done = [0.0]
        for r in rates[:-1]:
            done.append(done[-1] + r * step)
        return cls(duration, starts, done, rates)

    @property
    def total(self) -> int:
        return int(self.done[-1] + self.rates[-1] * (self.duration - self.starts[-1]))

    def copied(self, t: float) -> int:
        i = max(0, bisect.bisect_right(self.starts, t) - 1)
        return min(self.total, int(self.done[i] + self.rates[i] * (t - self.starts[i])))


def adaptive(policy: PollPolicy, copy: Copy) -> tuple[int, float]:
    """(status calls, detection lag) of one copy polled as ``diskferry.pipeline.copy`` does."""
    t, calls, rate, last_t, last_b = policy.initial, 0, None, 0.0, 0
    while True:
        calls += 1
        if t >= copy.duration:
            return calls, t - copy.duration
        copied = copy.copied(t)
        rate = smoothed_rate(rate, last_t, last_b, t, copied)
        last_t, last_b = t, copied
        t += policy.next_poll(t, eta_of(rate, copied, copy.total))


def fixed(copy: Copy, every: float = FIXED) -> tuple[int, float]:
    calls = math.ceil(copy.duration / every)
    return calls, calls * every - copy.duration


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def human(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def row(policy: PollPolicy, duration: float, profile: str, copies: int, rng: random.Random) -> list[str]:
    make: Callable[[], Copy] = (lambda: Copy.make(duration, None)) if profile == "steady" else (
        lambda: Copy.make(duration, rng))
    runs = [adaptive(policy, make()) for _ in range(copies)]
    calls = statistics.mean(c for c, _ in runs)
    lags = [lag for _, lag in runs]
    fixed_calls, _ = fixed(make())
    aim = max(2.0, 0.02 * duration)
    ratio = calls / fixed_calls
    ok = pct(lags, 0.9) <= aim and (duration < 1800 or ratio <= 0.1)
    return [human(duration), profile, f"{calls:.1f}", str(fixed_calls), f"{ratio:.3f}", f"{pct(lags, 0.5):.1f}",
            f"{pct(lags, 0.9):.1f}", f"{max(lags):.1f}", f"{aim:.0f}", "yes" if ok else "NO"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=200, help="copies simulated per row")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    policy = PollPolicy.of(Settings.from_env(os.environ))
    rng = random.Random(args.seed)
    head = ["copy", "rate", "calls", "fixed 10 s", "ratio", "lag p50 s", "lag p90 s", "lag max s", "aim s", "met"]
    rows = [row(policy, d, p, args.copies, rng) for d in DURATIONS for p in ("steady", "varying")]
    print(f"policy: {policy}")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print("met: lag p90 <= aim, and for copies of 30 min or more <= 1/10 of fixed 10 s polling's calls")
    return 0 if all(r[-1] == "yes" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
