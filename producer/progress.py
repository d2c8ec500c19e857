"""Live per-disk progress: one Rich task per (source, target, disk), started once its size is known."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from diskferry.model import Phase
from diskferry.state import JobStatus


class JobProgress:
    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[phase]}"),
            console=console,
        )
        self._tasks: dict[tuple[str, str, str], TaskID] = {}

    def __enter__(self) -> JobProgress:
        self._progress.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def update(self, job: JobStatus) -> None:
        for src in job.sources:
            for tgt in src.targets:
                for d in tgt.disks:
                    key = (src.key, tgt.key, d.key)
                    task = self._tasks.get(key)
                    if task is None:
                        task = self._progress.add_task(
                            f"{src.name} → {tgt.region} {d.key}", total=None, start=False, phase=d.phase.value
                        )
                        self._tasks[key] = task
                    if d.bytes_total and not self._progress.tasks[task].started:
                        self._progress.start_task(task)
                    completed = d.bytes_total if d.phase is Phase.succeeded else d.bytes_copied
                    style = {"succeeded": "[green]", "failed": "[red]"}.get(d.phase.value, "")
                    self._progress.update(
                        task,
                        total=d.bytes_total or None,
                        completed=completed,
                        phase=f"{style}{d.phase.value}",
                    )
