"""Worker processes seen from /proc, for tests that kill them: a worker's pool children (to
kill one, or to make sure none outlives its killed parent), by pid and start time."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (ppid is [1], start time [19])."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def children(pid: int) -> dict[int, str]:
    """The pool processes of a worker, with their start times (read before it is killed)."""
    out = {}
    for entry in Path("/proc").iterdir():
        stat = _stat(int(entry.name)) if entry.name.isdigit() else None
        if stat is not None and int(stat[1]) == pid:
            out[int(entry.name)] = stat[19]
    return out


def end(pool: dict[int, str]) -> None:
    """Orphaned pool processes exit once they see their parent's pipe close; make sure, by
    pid, only if the pid is still the same process (same start time)."""
    for pid, started in pool.items():
        stat = _stat(pid)
        if stat is not None and stat[19] == started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
