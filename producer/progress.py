"""The live view of ``watch`` and ``submit --wait``: totals per target and the busiest copies.

A job of thousands of disks cannot be drawn disk by disk ten times a second (a Rich task
per disk cost 1.15 s of CPU per redraw at 2,000 disks). The view instead redraws only when
the job record changed (its ``updated`` time moved), and what it draws is small whatever
the job's size: one row per target and the ``busiest`` running copies.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from diskferry.model import Phase
from diskferry.producer import views
from diskferry.sizes import human_size
from diskferry.state import JobStatus

#: running copies shown by name, highest rate first
BUSIEST = 8
#: kinds of hold-up the live view names (the most held first)
HELD_SHOWN = 3
#: share of a core the live view's drawing may take
CPU_SHARE = 0.05


def live_view(job: JobStatus, busiest: int = BUSIEST) -> RenderableType:
    """What the live view shows for ``job``: a headline, per-target totals, the busiest copies."""
    everything = views.totals(job.disks())
    head = Text(f"job {job.id} — {job.phase.value}: {everything.phase_text()}; {human_size(everything.bytes_copied)}"
                f" of {human_size(everything.bytes_total)} at {views.rate(everything.rate)}, "
                f"eta {views.eta(everything.eta)}")
    targets = Table(title="per target", title_justify="left")
    for col in ("target", "disks", "phases", "copied", "rate", "eta"):
        targets.add_column(col, justify="left" if col in ("target", "phases") else "right")
    for name, acc in views.per_target(job).items():
        done = acc.bytes_copied / acc.bytes_total if acc.bytes_total else 0.0
        targets.add_row(name, str(acc.disks), acc.phase_text(), f"{done:.0%}", views.rate(acc.rate),
                        views.eta(acc.eta))
    parts: list[RenderableType] = [head]
    waits = views.held_up(job)
    if waits:
        # why the job is not moving, in a line: the summary of `status` says more
        parts.append(Text("held up: " + "; ".join(w.short() for w in waits[:HELD_SHOWN]), style="yellow"))
    parts.append(targets)
    top = views.busiest(job, busiest)
    if not top:
        return Group(*parts)
    copies = Table(title=f"busiest copies ({len(top)} of {everything.phases[Phase.copying]} running)",
                   title_justify="left")
    for col in ("copy", "copied", "total", "rate", "eta"):
        copies.add_column(col, justify="left" if col == "copy" else "right")
    for name, d in top:
        copies.add_row(name, human_size(d.bytes_copied), human_size(d.bytes_total), views.rate(d.rate),
                       views.eta(d.eta))
    return Group(*parts, copies)


class JobProgress:
    """A Rich ``Live`` redrawn from ``update`` only when the job's record changed, and no more
    often than keeps its drawing within ``cpu_share`` of a core (a redraw that cost 20 ms
    waits 0.4 s before the next at 5 %)."""

    def __init__(self, console: Console, cpu_share: float = CPU_SHARE) -> None:
        self._live = Live(console=console, auto_refresh=False, transient=False)
        self._cpu_share = cpu_share
        self._seen: float | None = None
        self._next = 0.0
        #: redraws done and the CPU seconds they cost (the benchmark reports them)
        self.redraws = 0
        self.cpu = 0.0

    def __enter__(self) -> JobProgress:
        self._live.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._live.stop()

    def update(self, job: JobStatus) -> None:
        now = time.monotonic()
        if job.updated == self._seen or now < self._next:
            return
        started = time.process_time()
        self._seen = job.updated
        self._live.update(live_view(job), refresh=True)
        cost = time.process_time() - started
        self._next = now + cost / self._cpu_share
        self.redraws += 1
        self.cpu += cost
