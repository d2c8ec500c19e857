"""``diskferry``: the producer CLI, a thin shell over ``diskferry.producer.api``.

Exit codes: 0 success, 1 the job failed, 2 bad input (nothing enqueued or created),
3 Azure or Redis unavailable, 130 interrupted.
"""

from __future__ import annotations

import os
import sys

import click

from diskferry.config.settings import SettingsError
from diskferry.producer.commands.cancel import cancel
from diskferry.producer.commands.common import EXIT_BAD_INPUT, EXIT_UNAVAILABLE
from diskferry.producer.commands.gc import gc
from diskferry.producer.commands.jobs import list_jobs
from diskferry.producer.commands.plan import plan
from diskferry.producer.commands.resume import resume
from diskferry.producer.commands.status import status
from diskferry.producer.commands.submit import submit
from diskferry.producer.commands.watch import watch
from diskferry.producer.commands.worker import worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="diskferry")
def cli() -> None:
    """Replicate Azure VM disks and images across regions on a Celery fleet."""


for command in (submit, plan, status, watch, list_jobs, worker):
    cli.add_command(command)
cli.add_command(cancel)
cli.add_command(gc)
cli.add_command(resume)


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="diskferry", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except BrokenPipeError:
        # the reader went away (`| head`): not an error of ours; keep Python's exit quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except click.ClickException as exc:
        exc.show()
        return EXIT_BAD_INPUT
    except click.exceptions.Abort:
        return 130
    except SettingsError as exc:
        click.echo(f"error: invalid settings: {exc}", err=True)
        return EXIT_BAD_INPUT
    except ConnectionError as exc:
        click.echo(f"error: cannot reach Redis: {exc}", err=True)
        return EXIT_UNAVAILABLE
    return 0


if __name__ == "__main__":
    sys.exit(main())
