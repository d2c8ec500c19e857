"""``diskferry worker``: a Celery worker of the fleet (both queues by default)."""

from __future__ import annotations

import click

from diskferry.config.settings import get_settings


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--queues", "-Q", help="comma-separated queues [the copy queue and the poll queue]")
@click.option("--concurrency", "-c", type=int, help="worker processes [DISKFERRY_CONCURRENCY]")
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.option("--hostname", "-n", default="diskferry@%h", show_default=True)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(
    queues: str | None, concurrency: int | None, loglevel: str, hostname: str, celery_args: tuple[str, ...]
) -> None:
    """Start a worker (extra arguments go to `celery worker`)."""
    # the tasks import the Azure SDKs (over a second): only the worker command pays for them
    from diskferry.tasks.app import make_app

    settings = get_settings()
    app = make_app(settings)
    argv = [
        "worker",
        f"--queues={queues or f'{settings.queue},{settings.poll_queue}'}",
        f"--concurrency={concurrency or settings.concurrency}",
        f"--loglevel={loglevel}",
        f"--hostname={hostname}",
        "--events",
        *celery_args,
    ]
    app.worker_main(argv)
