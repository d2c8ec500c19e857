"""``diskferry cancel JOB [--discard]``: stop a job and remove everything temporary it made."""

from __future__ import annotations

import click

from diskferry.errors import DiskferryError, NotFound
from diskferry.producer import api, views
from diskferry.producer.commands.common import (
    EXIT_BAD_INPUT,
    EXIT_JOB_FAILED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    fail,
    json_option,
)
from diskferry.producer.terminal import Terminal


@click.command()
@click.argument("job_id")
@click.option("--discard", is_flag=True, help="also delete the disks and images the job made (tagged with it)")
@click.option("--wait", "wait_seconds", default=60.0, show_default=True,
              help="seconds to let the workers stop the job before stopping it from here")
@json_option
def cancel(job_id: str, discard: bool, wait_seconds: float, as_json: bool) -> None:
    """Cancel a job: no new work, copies aborted, temporary resources removed, a deallocated VM
    started again; exit 0 once nothing temporary is left."""
    term = Terminal(json_mode=as_json)
    try:
        status = api.cancel_job(job_id, discard=discard, wait_seconds=wait_seconds)
    except NotFound:
        fail(term, f"no job {job_id!r} (unknown or expired)", EXIT_BAD_INPUT)
    except DiskferryError as err:
        fail(term, f"{err.code}: {err.message}", EXIT_UNAVAILABLE)
    clean = status.cleaned and not status.cleanup_errors()
    if term.json_mode:
        term.json({"job": status, "ok": clean, "cleaned": status.cleaned})
    else:
        term.print(views.status_table(status))
        if clean:
            kept = "results deleted" if discard else "results kept"
            term.success(f"job {job_id} {status.phase.value}: temporary resources removed, {kept}")
        else:
            lines = [f"{where}: {err.code}: {err.message}" for where, err in status.cleanup_errors()]
            term.error(f"job {job_id}: cleanup left resources behind:\n  " + "\n  ".join(lines or ["not finished"]))
    raise SystemExit(EXIT_OK if clean else EXIT_JOB_FAILED)
