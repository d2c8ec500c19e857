"""What several commands share: exit codes, options, loading a job file, waiting for a job."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from diskferry.errors import DiskferryError, JobFileError
from diskferry.model import Phase
from diskferry.producer import api, views
from diskferry.producer.follow import follow
from diskferry.producer.jobfile import JobFile
from diskferry.producer.planner import REFUSALS
from diskferry.producer.progress import JobProgress
from diskferry.producer.terminal import Terminal
from diskferry.sizes import human_size
from diskferry.state import JobStatus

#: every disk of every target replicated
EXIT_OK = 0
#: the job ended with failures (the summary says which and why)
EXIT_JOB_FAILED = 1
#: bad input: an invalid job file or arguments; nothing was enqueued or created
EXIT_BAD_INPUT = 2
#: Azure or Redis refused or could not be reached; nothing was enqueued
EXIT_UNAVAILABLE = 3
#: the wait was interrupted (the job goes on in the fleet)
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])

#: seconds between progress updates: checked before anything is submitted (a negative value
#: would otherwise fail only after the job was enqueued, when the first wait begins)
INTERVAL = click.FloatRange(min=0, min_open=True)


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="one JSON document on stdout")(fn)


def fail(term: Terminal, message: str, code: int, *, error: str = "Error",
         fields: list[tuple[str, str]] | None = None) -> NoReturn:
    """Report an error and exit with ``code``: on stderr, and in ``--json`` mode also as one JSON
    document on stdout (``{"error": {"code", "message", "fields"}, "exit_code"}``), so a script
    that reads stdout is never left with nothing to parse."""
    term.error(message)
    if term.json_mode:
        doc = {"code": error, "message": message,
               "fields": [{"field": f, "message": m} for f, m in fields or []]}
        term.json({"error": doc, "exit_code": code})
    raise SystemExit(code)


def invalid_job_file(term: Terminal, path: Path, err: JobFileError) -> NoReturn:
    details = "\n".join(f"  {field or '(file)'}: {msg}" for field, msg in err.errors)
    fail(term, f"invalid job file {path}:\n{details}", EXIT_BAD_INPUT, error=err.code, fields=err.errors)


def load(term: Terminal, path: Path) -> JobFile:
    try:
        return api.load_jobfile(path)
    except JobFileError as err:
        invalid_job_file(term, path, err)


def azure_failure(term: Terminal, path: Path, err: DiskferryError) -> NoReturn:
    """Planning failed: a field that Azure's answers show wrong (an unknown region), a missing
    source or a job the planner refuses (names that collide, ...) is bad input, anything else
    unavailability."""
    if isinstance(err, JobFileError):
        invalid_job_file(term, path, err)
    bad = err.code in ("NotFound", "ResourceNotFound", "ResourceGroupNotFound", "SubscriptionNotFound") \
        or err.code in REFUSALS
    code = EXIT_BAD_INPUT if bad else EXIT_UNAVAILABLE
    fail(term, f"{err.code}: {err.message}", code, error=err.code)


def json_error(argv: list[str] | None, code: str, message: str, exit_code: int) -> None:
    """An error caught outside any command (a misused command line, invalid settings): shown on
    stderr by the caller, and answered in JSON too when the command line asks for ``--json``."""
    if "--json" in (sys.argv[1:] if argv is None else argv):
        Terminal(json_mode=True).json({"error": {"code": code, "message": message, "fields": []},
                                       "exit_code": exit_code})


#: a job none of whose tasks has started after this long is said to wait for a worker
UNTAKEN_SECONDS = 30.0


def wait(term: Terminal, job_id: str, interval: float) -> int:
    """Follow the job to its end (live progress on a terminal); the exit code it earns."""
    last: JobStatus | None = None
    _warn_if_no_worker(term, api.workers_alive())
    try:
        if term.interactive:
            with JobProgress(term.out) as progress:
                for last in follow(job_id, interval=interval):
                    progress.update(last)
                    _warn_if_untaken(term, last)
        else:
            seen: dict[str, str] = {}
            for last in follow(job_id, interval=interval):
                _log_changes(term, last, seen)
                _warn_if_untaken(term, last)
    except KeyboardInterrupt:
        term.warning(f"stopped watching; job {job_id} goes on in the fleet (diskferry watch {job_id})")
        return EXIT_INTERRUPTED
    assert last is not None
    return report(term, last)


def _warn_if_no_worker(term: Terminal, alive: list[str]) -> None:
    if not alive:
        term.warning("no worker is alive: the job's tasks wait in the queue until one starts (diskferry worker)")


_untaken_warned: set[str] = set()


def _warn_if_untaken(term: Terminal, job: JobStatus) -> None:
    """Once per job: none of its tasks has started for a while — say how many workers are up."""
    if job.phase is not Phase.pending or job.id in _untaken_warned or time.time() - job.created < UNTAKEN_SECONDS:
        return
    _untaken_warned.add(job.id)
    alive = api.workers_alive()
    term.warning(f"no worker has taken a task of job {job.id} in {time.time() - job.created:.0f} s; "
                 f"{len(alive)} worker(s) alive" + ("" if alive else " — start one: diskferry worker"))


def _log_changes(term: Terminal, job: JobStatus, seen: dict[str, str]) -> None:
    """Without a terminal: one line each time a disk changes phase."""
    for src in job.sources:
        for tgt in src.targets:
            for d in tgt.disks:
                key = f"{src.name} → {tgt.region} {d.key}"
                if seen.get(key) != d.phase.value:
                    seen[key] = d.phase.value
                    term.line(f"{key}: {d.phase.value} {human_size(d.bytes_copied)}/{human_size(d.bytes_total)}")


def report(term: Terminal, job: JobStatus, workers: list[str] | None = None, *, disks: bool = False) -> int:
    """Print the end state of a job (its summary; every disk with ``disks``); EXIT_OK only if
    every disk of every target made it and every cleanup has run and undone everything
    (nothing temporary is left). For a job still running, ``workers`` (those alive) says
    whether anything is there to run it."""
    replicated = job.phase is Phase.succeeded and all(d.phase is Phase.succeeded for d in job.disks())
    ok = replicated and job.cleaned and not job.cleanup_errors()
    if term.json_mode:
        doc: dict[str, Any] = {"job": job, "ok": ok, "cleaned": job.cleaned}
        if workers is not None:
            doc["workers_alive"] = len(workers)
        term.json(doc)
        return EXIT_OK if ok else EXIT_JOB_FAILED
    term.print(views.status_table(job) if disks else views.summary(job))
    if ok:
        term.success(f"job {job.id}: {len(job.disks())} disk(s) replicated, temporary resources removed")
        return EXIT_OK
    if not job.done:
        alive = "" if workers is None else f"; {len(workers)} worker(s) alive"
        term.warning(f"job {job.id} is still {job.phase.value}{alive}")
        if workers is not None:
            _warn_if_no_worker(term, workers)
        return EXIT_JOB_FAILED
    if replicated and not job.cleanup_errors():
        term.warning(f"job {job.id}: every disk replicated, but its cleanup has not finished")
        return EXIT_JOB_FAILED
    lines = views.failures(job) or [f"job ended {job.phase.value}"]
    term.error(f"job {job.id} failed:\n  " + "\n  ".join(lines))
    return EXIT_JOB_FAILED
