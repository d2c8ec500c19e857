"""What several commands share: exit codes, options, loading a job file, waiting for a job."""

from __future__ import annotations

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


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="one JSON document on stdout")(fn)


def fail(term: Terminal, message: str, code: int) -> NoReturn:
    term.error(message)
    raise SystemExit(code)


def load(term: Terminal, path: Path) -> JobFile:
    try:
        return api.load_jobfile(path)
    except JobFileError as err:
        details = "\n".join(f"  {field or '(file)'}: {msg}" for field, msg in err.errors)
        fail(term, f"invalid job file {path}:\n{details}", EXIT_BAD_INPUT)


def azure_failure(term: Terminal, err: DiskferryError) -> NoReturn:
    """Planning failed: a missing source or a job the planner refuses (names that collide, ...)
    is bad input, anything else unavailability."""
    bad = err.code in ("NotFound", "ResourceNotFound", "ResourceGroupNotFound") or err.code in REFUSALS
    code = EXIT_BAD_INPUT if bad else EXIT_UNAVAILABLE
    fail(term, f"{err.code}: {err.message}", code)


def wait(term: Terminal, job_id: str, interval: float) -> int:
    """Follow the job to its end (live progress on a terminal); the exit code it earns."""
    last: JobStatus | None = None
    try:
        if term.interactive:
            with JobProgress(term.out) as progress:
                for last in follow(job_id, interval=interval):
                    progress.update(last)
        else:
            seen: dict[str, str] = {}
            for last in follow(job_id, interval=interval):
                _log_changes(term, last, seen)
    except KeyboardInterrupt:
        term.warning(f"stopped watching; job {job_id} goes on in the fleet (diskferry watch {job_id})")
        return EXIT_INTERRUPTED
    assert last is not None
    return report(term, last)


def _log_changes(term: Terminal, job: JobStatus, seen: dict[str, str]) -> None:
    """Without a terminal: one line each time a disk changes phase."""
    for src in job.sources:
        for tgt in src.targets:
            for d in tgt.disks:
                key = f"{src.name} → {tgt.region} {d.key}"
                if seen.get(key) != d.phase.value:
                    seen[key] = d.phase.value
                    term.line(f"{key}: {d.phase.value} {views.size(d.bytes_copied)}/{views.size(d.bytes_total)}")


def report(term: Terminal, job: JobStatus, *, disks: bool = False) -> int:
    """Print the end state of a job (its summary; every disk with ``disks``); EXIT_OK only if
    every disk of every target made it and every cleanup has run and undone everything."""
    replicated = job.phase is Phase.succeeded and all(d.phase is Phase.succeeded for d in job.disks())
    ok = replicated and job.cleaned and not job.cleanup_errors()
    if term.json_mode:
        term.json({"job": job, "ok": ok, "cleaned": job.cleaned})
        return EXIT_OK if ok else EXIT_JOB_FAILED
    term.print(views.status_table(job) if disks else views.summary(job))
    if ok:
        term.success(f"job {job.id}: {len(job.disks())} disk(s) replicated, temporary resources removed")
        return EXIT_OK
    if not job.done:
        term.warning(f"job {job.id} is still {job.phase.value}")
        return EXIT_JOB_FAILED
    if replicated and not job.cleanup_errors():
        term.warning(f"job {job.id}: every disk replicated, but its cleanup has not finished")
        return EXIT_JOB_FAILED
    lines = views.failures(job) or [f"job ended {job.phase.value}"]
    term.error(f"job {job.id} failed:\n  " + "\n  ".join(lines))
    return EXIT_JOB_FAILED
