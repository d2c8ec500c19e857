"""``diskferry watch JOB``: live progress of a job until it ends."""

from __future__ import annotations

import click

from diskferry.errors import NotFound
from diskferry.producer import api
from diskferry.producer.commands.common import EXIT_BAD_INPUT, INTERVAL, fail, wait
from diskferry.producer.terminal import Terminal


@click.command()
@click.argument("job_id")
@click.option("--interval", type=INTERVAL, default=1.0, show_default=True, help="seconds between updates")
def watch(job_id: str, interval: float) -> None:
    """Follow a job to its end; exit 0 only if every disk made it."""
    term = Terminal()
    try:
        api.job_status(job_id)
    except NotFound:
        fail(term, f"no job {job_id!r} (unknown or expired)", EXIT_BAD_INPUT)
    raise SystemExit(wait(term, job_id, interval))
