"""``diskferry``: the producer CLI, a thin shell over ``diskferry.producer.api``.

Exit codes: 0 success, 1 the job failed, 2 bad input or settings (nothing enqueued or
created), 3 Azure or Redis unavailable, 130 interrupted. Every failure that is not a bug
ends in one line on stderr (a JSON document on stdout with ``--json``), never a traceback.

The commands import what they use when they run: ``--help``, ``status`` and ``list`` load
neither Celery nor an Azure SDK.
"""

from __future__ import annotations

import os
import sys

import click

from diskferry.config.settings import SettingsError
from diskferry.errors import Unavailable, redact, unreachable
from diskferry.producer.commands.cancel import cancel
from diskferry.producer.commands.common import EXIT_BAD_INPUT, EXIT_UNAVAILABLE, json_error
from diskferry.producer.commands.gc import gc
from diskferry.producer.commands.jobs import list_jobs
from diskferry.producer.commands.plan import plan
from diskferry.producer.commands.resume import resume
from diskferry.producer.commands.status import status
from diskferry.producer.commands.submit import submit
from diskferry.producer.commands.watch import watch
from diskferry.producer.commands.worker import worker
from diskferry.producer.terminal import Terminal


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
    args = sys.argv[1:] if argv is None else argv
    term = Terminal(json_mode="--json" in args)
    try:
        cli.main(args=args, prog_name="diskferry", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except BrokenPipeError:
        # the reader went away (`| head`): not an error of ours; keep Python's exit quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except click.ClickException as exc:
        exc.show()
        json_error(args, "UsageError", exc.format_message(), EXIT_BAD_INPUT)
        return EXIT_BAD_INPUT
    except click.exceptions.Abort:
        return 130
    except SettingsError as exc:
        term.error(f"invalid settings: {exc}")
        json_error(args, "InvalidSettings", f"invalid settings: {exc}", EXIT_BAD_INPUT)
        return EXIT_BAD_INPUT
    except Unavailable as exc:
        term.error(f"{exc.code}: {exc.message}")
        json_error(args, exc.code, exc.message, EXIT_UNAVAILABLE)
        return EXIT_UNAVAILABLE
    except Exception as exc:
        if not unreachable(exc):
            raise  # a bug: its traceback is what a report needs
        message = f"cannot reach Redis or the broker: {redact(str(exc))}"
        term.error(message)
        json_error(args, "RedisUnavailable", message, EXIT_UNAVAILABLE)
        return EXIT_UNAVAILABLE
    return 0


if __name__ == "__main__":
    sys.exit(main())
