"""``diskferry gc [--dry-run] [--older-than AGE]``: remove what lost or ended jobs left behind."""

from __future__ import annotations

import click

from diskferry.errors import DiskferryError
from diskferry.producer import api
from diskferry.producer.commands import common
from diskferry.producer.terminal import Terminal


@click.command()
@click.option("--dry-run", is_flag=True, help="list what would be removed; remove nothing")
@click.option("--older-than", "older_than", default="1h", show_default=True,
              help="leave alone what is younger than this (90s, 30m, 6h, 2d)")
@common.json_option
def gc(dry_run: bool, older_than: str, as_json: bool) -> None:
    """Find the temporary resources (SAS grants, snapshots, staged VHDs, staging accounts) of
    jobs that ended, were cancelled or are unknown, and remove them; exit 1 if any remain."""
    term = Terminal(json_mode=as_json)
    try:
        from diskferry.gc import parse_age  # with the SDKs: only when the command runs

        age = parse_age(older_than)
    except ValueError as err:
        common.fail(term, f"--older-than: {err}", common.EXIT_BAD_INPUT)
    try:
        found = api.collect_garbage(older_than=age, dry_run=dry_run)
    except DiskferryError as err:
        bad = err.code == "NoSubscription"
        common.fail(term, f"{err.code}: {err.message}", common.EXIT_BAD_INPUT if bad else common.EXIT_UNAVAILABLE)
    failed = [left for left in found if left.outcome.startswith("failed")]
    if term.json_mode:
        term.json({"leftovers": found, "ok": not failed})
    else:
        for left in found:
            term.line(f"{left.outcome}: {left.kind.value} {left.id} (job {left.job}, {left.state.value})")
        removed = sum(left.outcome in ("removed", "would remove") for left in found)
        verb = "would remove" if dry_run else "removed"
        term.line(f"{verb} {removed} of {len(found)} leftover(s)")
    raise SystemExit(common.EXIT_JOB_FAILED if failed else common.EXIT_OK)
