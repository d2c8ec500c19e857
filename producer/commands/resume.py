"""``diskferry resume JOB``: run a failed or cancelled job again, keeping what it made."""

from __future__ import annotations

import click

from diskferry.errors import DiskferryError, NotFound
from diskferry.producer import api
from diskferry.producer.commands import common
from diskferry.producer.planner import REFUSALS
from diskferry.producer.terminal import Terminal


@click.command()
@click.argument("job_id")
@click.option("--wait", "wait_", is_flag=True, help="follow the job to its end; exit 0 only if every disk made it")
@click.option("--interval", default=1.0, show_default=True, help="seconds between progress updates")
def resume(job_id: str, wait_: bool, interval: float) -> None:
    """Run a failed or cancelled job again: the disks and images it made are kept, the rest
    is done again."""
    term = Terminal()
    try:
        pairs = api.resume_job(job_id)
    except NotFound:
        common.fail(term, f"no job {job_id!r} (unknown or expired)", common.EXIT_BAD_INPUT)
    except DiskferryError as err:
        bad = err.code == "JobNotResumable" or err.code in REFUSALS
        common.fail(term, f"{err.code}: {err.message}", common.EXIT_BAD_INPUT if bad else common.EXIT_UNAVAILABLE)
    term.line(f"job {job_id} resumed: {pairs} (source, target) pair(s) run again")
    if wait_:
        raise SystemExit(common.wait(term, job_id, interval))
    raise SystemExit(common.EXIT_OK)
