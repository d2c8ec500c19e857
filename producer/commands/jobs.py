"""``diskferry list``: recent jobs."""

from __future__ import annotations

import click

from diskferry.producer import api, views
from diskferry.producer.commands.common import json_option
from diskferry.producer.terminal import Terminal


@click.command(name="list")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
def list_jobs(limit: int, as_json: bool) -> None:
    """List the newest jobs."""
    term = Terminal(json_mode=as_json)
    jobs = api.list_jobs(limit)
    if as_json:
        term.json(jobs)
    elif not jobs:
        term.line("no jobs")
    else:
        term.print(views.list_table(jobs))
