"""Rich renderings of plans, job status and job lists (no I/O here)."""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text

from diskferry.model import Phase
from diskferry.producer.planner import Plan
from diskferry.sizes import human_size
from diskferry.state import DiskStatus, JobStatus, JobSummary

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
                    _outcome(d),
                )
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


def _outcome(d: DiskStatus) -> str:
    text = f"{d.error.code}: {d.error.message}" if d.error is not None else d.result_name or ""
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
