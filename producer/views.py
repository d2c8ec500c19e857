"""Rich renderings of plans, job status and job lists (no I/O here).

A job of thousands of disks is shown by its totals: :func:`summary` gives one row per
(source, target) and per target, and the failed disks with their errors; only
:func:`status_table` lists every disk (``diskferry status --disks``).
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from diskferry.model import Held, Phase
from diskferry.producer.planner import Plan
from diskferry.sizes import human_size
from diskferry.state import DiskStatus, JobStatus, JobSummary, TargetStatus

_PHASE_STYLE = {
    Phase.succeeded: "green",
    Phase.failed: "red",
    Phase.copying: "cyan",
    Phase.pending: "dim",
}


def rate(bps: float | None) -> str:
    return "-" if not bps else f"{human_size(int(bps))}/s"


def eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def phase(p: Phase) -> Text:
    return Text(p.value, style=_PHASE_STYLE.get(p, "yellow"))


def plan_table(plan: Plan) -> Table:
    t = Table(title=f"plan for job {plan.job.id}", title_justify="left", expand=False)
    for col in ("#", "action", "name", "region", "size", "detail"):
        t.add_column(col, justify="right" if col in ("#", "size") else "left", overflow="fold")
    for i, step in enumerate(plan.steps, 1):
        t.add_row(str(i), step.action, step.name, step.region, human_size(step.size_bytes), step.detail)
    return t


def status_table(job: JobStatus) -> Table:
    t = Table(title=f"job {job.id} — {job.phase.value}", title_justify="left")
    for col in ("source", "target", "disk", "phase", "copied", "total", "rate", "eta", "result / error"):
        t.add_column(col, justify="right" if col in ("copied", "total", "rate", "eta") else "left", overflow="fold")
    for src in job.sources:
        for tgt in src.targets:
            for d in tgt.disks:
                t.add_row(
                    src.name,
                    f"{tgt.region}/{tgt.resource_group}",
                    d.key,
                    phase(d.phase),
                    human_size(d.bytes_copied),
                    human_size(d.bytes_total),
                    rate(d.rate),
                    eta(d.eta),
                    _outcome(d) or (f"{tgt.held.step} held up: {tgt.held.code}" if tgt.held else ""),
                )
            if tgt.vm_name:
                t.add_row(src.name, f"{tgt.region}/{tgt.resource_group}", "(vm)", phase(tgt.phase), "", "", "", "",
                          _vm_outcome(tgt))
            if tgt.image_name or tgt.error:
                t.add_row(
                    src.name,
                    f"{tgt.region}/{tgt.resource_group}",
                    "(image)" if tgt.image_name else "",
                    phase(tgt.phase),
                    "",
                    "",
                    "",
                    "",
                    tgt.image_name or f"{tgt.error.code}: {tgt.error.message}" if tgt.error else "",
                )
    return t


@dataclass
class Totals:
    """What a set of destination disks adds up to: disks by phase, bytes, rate, ETA."""

    phases: Counter[Phase] = field(default_factory=Counter)
    bytes_copied: int = 0
    bytes_total: int = 0
    #: bytes per second of the copies running now
    rate: float = 0.0
    #: seconds until the last running copy ends, at its own rate
    eta: float | None = None

    def add(self, d: DiskStatus) -> None:
        self.phases[d.phase] += 1
        self.bytes_total += d.bytes_total
        self.bytes_copied += d.bytes_total if _copy_ended(d) else d.bytes_copied
        if d.phase is Phase.copying:
            self.rate += d.rate or 0.0
            if d.eta is not None:
                self.eta = max(self.eta or 0.0, d.eta)

    @property
    def disks(self) -> int:
        return sum(self.phases.values())

    def phase_text(self) -> str:
        """``3 copying, 5 succeeded`` in the order a disk goes through its phases."""
        return ", ".join(f"{self.phases[p]} {p.value}" for p in Phase if self.phases[p])


def _copy_ended(d: DiskStatus) -> bool:
    return d.phase in (Phase.copied, Phase.importing, Phase.imaging, Phase.succeeded)


def totals(disks: Iterable[DiskStatus]) -> Totals:
    out = Totals()
    for d in disks:
        out.add(d)
    return out


def target_name(region: str, resource_group: str) -> str:
    return f"{region}/{resource_group}"


def per_target(job: JobStatus) -> dict[str, Totals]:
    """Totals per target (region/resource group) over every source."""
    out: dict[str, Totals] = {}
    for tgt in job.targets():
        acc = out.setdefault(target_name(tgt.region, tgt.resource_group), Totals())
        for d in tgt.disks:
            acc.add(d)
    return out


def _totals_table(title: str, first: str, rows: Iterable[tuple[str, Totals]]) -> Table:
    t = Table(title=title, title_justify="left")
    for col in (first, "disks", "phases", "copied", "total", "rate", "eta"):
        t.add_column(col, justify="right" if col in ("disks", "copied", "total", "rate", "eta") else "left",
                     overflow="fold")
    for name, acc in rows:
        t.add_row(name, str(acc.disks), acc.phase_text(), human_size(acc.bytes_copied), human_size(acc.bytes_total),
                  rate(acc.rate), eta(acc.eta))
    return t


#: sources listed by name in the summary; the rest are counted
SUMMARY_SOURCES = 20


def summary(job: JobStatus) -> RenderableType:
    """The job in a screenful: per target, then per source (failed first, then those with the
    most left to copy; at most ``SUMMARY_SOURCES``), then what failed and why."""
    everything = totals(job.disks())
    per_source = [(src.name, totals(d for tgt in src.targets for d in tgt.disks)) for src in job.sources]
    unfinished = [(name, acc) for name, acc in per_source if acc.phases[Phase.succeeded] < acc.disks]
    unfinished.sort(key=lambda item: (-item[1].phases[Phase.failed], item[1].bytes_copied - item[1].bytes_total))
    shown = unfinished[:SUMMARY_SOURCES]
    parts: list[RenderableType] = [
        Text(f"job {job.id} — {job.phase.value}: {everything.disks} destination disk(s) of {len(job.sources)} "
             f"source(s), {everything.phase_text()}; {human_size(everything.bytes_copied)} of "
             f"{human_size(everything.bytes_total)} at {rate(everything.rate)}, eta {eta(everything.eta)}"),
        _totals_table("per target", "target", per_target(job).items()),
    ]
    if shown:
        parts.append(_totals_table("sources not finished", "source", shown))
    hidden = len(per_source) - len(shown)
    if hidden:
        parts.append(Text(f"{hidden} more source(s) ({len(per_source) - len(unfinished)} succeeded); "
                          "diskferry status --disks lists every disk", style="dim"))
    copying = [f"{src.kind} {src.name} disk {disk} {percent:g} %" for src in job.sources
               for disk, percent in sorted(src.background.items())]
    if copying:
        # a large Premium SSD v2 or Ultra disk's snapshot takes hours to be copied: the job is
        # not stuck in prepare, and this says how far Azure is
        parts.append(Text(f"snapshots Azure still copies in the background before they can be read "
                          f"({len(copying)}): " + ", ".join(copying[:SUMMARY_SOURCES])
                          + (f" and {len(copying) - SUMMARY_SOURCES} more" if len(copying) > SUMMARY_SOURCES else "")))
    vms = vms_table(job)
    if vms is not None:
        parts.append(vms)
    waits = held_up(job)
    if waits:
        parts.append(Text(f"held up ({len(waits)}), retried by the fleet until it gets through:", style="bold yellow"))
        parts.append(Text("\n".join(w.line() for w in waits), style="yellow", no_wrap=True, overflow="ignore"))
    lines = failures(job)
    if lines:
        # one plain line per failure, unwrapped: a table of hundreds of rows costs Rich seconds,
        # and a line per failure is what grep wants
        parts.append(Text(f"failures ({len(lines)}):", style="bold red"))
        parts.append(Text("\n".join(lines), style="red", no_wrap=True, overflow="ignore"))
    return Group(*parts)


def busiest(job: JobStatus, n: int) -> list[tuple[str, DiskStatus]]:
    """The ``n`` running copies with the highest rate, as (``source → target disk``, disk)."""
    running = (
        (f"{src.name} → {tgt.region} {d.key}", d)
        for src in job.sources for tgt in src.targets for d in tgt.disks if d.phase is Phase.copying
    )
    return heapq.nlargest(n, running, key=lambda item: item[1].rate or 0.0)


def _vm_outcome(tgt: TargetStatus) -> str:
    if tgt.vm_id:
        return f"{tgt.vm_name} ({tgt.vm_power})"
    return f"{tgt.vm_name}: not made" if tgt.phase.terminal else f"{tgt.vm_name}: in the making"


def vms_table(job: JobStatus) -> Table | None:
    """The VMs the job rebuilt (or is rebuilding), with the disks each one holds at its LUNs."""
    rows = [(src, tgt) for src in job.sources for tgt in src.targets if tgt.vm_name]
    if not rows:
        return None
    t = Table(title="VMs", title_justify="left")
    for col in ("source", "target", "vm", "power", "disks (LUN: disk)", "id / error"):
        t.add_column(col, overflow="fold")
    for src, tgt in rows:
        disks = ", ".join(f"{'OS' if d.key == 'os' else d.key.removeprefix('lun')}: {d.result_name or '-'}"
                          for d in tgt.disks)
        made = tgt.vm_id or (f"{tgt.error.code}: {tgt.error.message}" if tgt.error else "-")
        t.add_row(src.name, f"{tgt.region}/{tgt.resource_group}", tgt.vm_name or "", tgt.vm_power or "-", disks,
                  made)
    return t


@dataclass
class HeldUp:
    """The pairs, disks or watchers one step's transient error holds up (see ``diskferry.model.Held``)."""

    step: str
    code: str
    #: what is held: ``pair``, ``disk``, or a watcher's target
    what: str
    count: int
    #: the latest one met
    latest: Held
    #: since when the longest held of them has been
    since: float

    def short(self) -> str:
        """``prepare of 12 pair(s): EntraUnavailable``: the live view's words."""
        if self.step == "watch":
            return f"copy watcher of {self.what}: {self.code}"
        return f"{self.step} of {self.count} {self.what}(s): {self.code}"

    def line(self, now: float | None = None) -> str:
        """The summary's words: the short ones, for how long, when last met, the latest message."""
        now = time.time() if now is None else now
        held = _duration(max(0.0, now - self.since))
        return f"{self.short()}, for {held}, last {max(0.0, now - self.latest.at):.0f} s ago: {self.latest.message}"


def _duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``: how long something has lasted, for a reader."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def held_up(job: JobStatus) -> list[HeldUp]:
    """What transient errors hold the job's steps up, grouped by step and code, the most held
    first: why a job is not moving (an outage, throttling, a staging account that does not
    answer) without reading the workers' logs. A cleanup held up shows until it ran, after the
    disks' outcomes; nothing once the job is over and cleaned."""
    if job.done and job.cleaned:
        return []
    groups: dict[tuple[str, str, str], HeldUp] = {}

    def add(held: Held | None, what: str) -> None:
        if held is None:
            return
        group = groups.get((held.step, held.code, what))
        if group is None:
            groups[(held.step, held.code, what)] = HeldUp(held.step, held.code, what, 1, held, held.began)
            return
        group.count += 1
        group.since = min(group.since, held.began)
        if held.at > group.latest.at:
            group.latest = held

    for tgt in job.targets():
        add(tgt.held, "pair")
        for d in tgt.disks:
            add(d.held, "disk")
    if not job.done:  # a watcher's record outlives its copies only until the job's end
        for target, held in job.watchers_held.items():
            add(held, target)
    return sorted(groups.values(), key=lambda g: (-g.count, g.step, g.code))


def _outcome(d: DiskStatus) -> str:
    text = f"{d.error.code}: {d.error.message}" if d.error is not None else d.result_name or ""
    if d.held is not None and not text:
        text = f"held up: {d.held.code}"
    if d.restarts:
        last = d.restart_reasons[-1].split(":", 1)[0] if d.restart_reasons else "?"
        text = f"{text} (copy restarted {d.restarts}x, last: {last})".lstrip()
    return text


def failures(job: JobStatus) -> list[str]:
    """One line per failed disk, target or source (or source cleanup): what failed and why."""
    lines = []
    for src in job.sources:
        if src.error:
            lines.append(f"{src.name}: {src.error.code}: {src.error.message}")
        for tgt in src.targets:
            if tgt.error:
                lines.append(f"{src.name} → {tgt.region}: {tgt.error.code}: {tgt.error.message}")
            for d in tgt.disks:
                if d.phase is Phase.failed:
                    why = f"{d.error.code}: {d.error.message}" if d.error else "failed"
                    lines.append(f"{src.name} → {tgt.region} {d.key}: {why}")
    lines += [f"{where}: cleanup: {err.code}: {err.message}" for where, err in job.cleanup_errors()]
    return lines


def list_table(jobs: list[JobSummary]) -> Table:
    t = Table(title="jobs", title_justify="left")
    # the id is what `status` and `watch` take: never cut or wrapped, however narrow the terminal
    t.add_column("job", no_wrap=True, min_width=max((len(j.id) for j in jobs), default=3))
    for col in ("created", "phase", "sources", "targets", "disks", "ok", "failed"):
        t.add_column(col)
    for j in jobs:
        t.add_row(
            j.id,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(j.created)),
            phase(j.phase),
            str(j.sources),
            str(j.targets),
            str(j.disks),
            str(j.disks_succeeded),
            str(j.disks_failed),
        )
    return t
