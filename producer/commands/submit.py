"""``diskferry submit JOB.yaml``: plan, record and enqueue a job."""

from __future__ import annotations

from pathlib import Path

import click

from diskferry.errors import DiskferryError
from diskferry.producer import api
from diskferry.producer.commands.common import EXIT_OK, INTERVAL, azure_failure, json_option, load, wait
from diskferry.producer.terminal import Terminal


@click.command()
@click.argument("job_file", type=click.Path(path_type=Path))
@click.option("--wait", "wait_", is_flag=True, help="follow the job to its end; exit 0 only if every disk made it")
@click.option("--interval", type=INTERVAL, default=1.0, show_default=True, help="seconds between progress updates")
@json_option
def submit(job_file: Path, wait_: bool, interval: float, as_json: bool) -> None:
    """Submit a job file; print the job id."""
    term = Terminal(json_mode=as_json)
    spec = load(term, job_file)
    try:
        job_id = api.submit_job(spec)
    except DiskferryError as err:
        azure_failure(term, job_file, err)
    if not wait_:
        if as_json:
            term.json({"job": job_id})
        else:
            term.line(job_id)
        raise SystemExit(EXIT_OK)
    term.line(f"job {job_id} submitted")
    raise SystemExit(wait(term, job_id, interval))
