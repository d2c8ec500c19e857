"""``diskferry plan JOB.yaml``: every step a job would take. Creates nothing."""

from __future__ import annotations

from pathlib import Path

import click

from diskferry.errors import DiskferryError
from diskferry.producer import api, views
from diskferry.producer.commands.common import azure_failure, json_option, load
from diskferry.producer.terminal import Terminal
from diskferry.sizes import human_size


@click.command()
@click.argument("job_file", type=click.Path(path_type=Path))
@json_option
def plan(job_file: Path, as_json: bool) -> None:
    """Resolve a job file against Azure and print its steps (reads only)."""
    term = Terminal(json_mode=as_json)
    spec = load(term, job_file)
    try:
        result = api.plan_job(spec)
    except DiskferryError as err:
        azure_failure(term, job_file, err)
    if as_json:
        term.json(result.to_json())
        return
    term.print(views.plan_table(result))
    for warning in result.warnings:
        term.warning(warning)
    term.line(f"{len(result.steps)} steps, {human_size(result.total_bytes)} to copy")
