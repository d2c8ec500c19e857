"""``diskferry status JOB``: where a job stands — totals per target and source, failures;
every disk with ``--disks``; everything with ``--json``."""

from __future__ import annotations

import click

from diskferry.errors import NotFound
from diskferry.producer import api
from diskferry.producer.commands.common import EXIT_BAD_INPUT, fail, json_option, report
from diskferry.producer.terminal import Terminal


@click.command()
@click.argument("job_id")
@click.option("--disks", "list_disks", is_flag=True, help="list every destination disk")
@json_option
def status(job_id: str, list_disks: bool, as_json: bool) -> None:
    """Show a job's state; exit 0 when it succeeded, 1 otherwise."""
    term = Terminal(json_mode=as_json)
    try:
        job = api.job_status(job_id)
    except NotFound:
        fail(term, f"no job {job_id!r} (unknown or expired)", EXIT_BAD_INPUT, error="JobNotFound")
    raise SystemExit(report(term, job, None if job.done and job.cleaned else api.workers_alive(), disks=list_disks))
