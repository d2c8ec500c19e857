"""Where the reliability matrices (kill, fault, bad input) write what each case showed.

A matrix test calls :func:`record_case` once its outcome is known. When the environment
names a file in ``DISKFERRY_RELIABILITY_LOG`` (the report command sets it), the case is
appended there as one JSON line; otherwise nothing is written, so the suite's own runs are
unaffected. The report renders ``docs/reliability.md`` from those lines, so a case's
outcome and recovery time in the report are what a real run measured, never typed in.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LOG_ENV = "DISKFERRY_RELIABILITY_LOG"


@dataclass(frozen=True)
class CaseRecord:
    matrix: str                   # "kill", "fault" or "bad-input"
    case: str                     # the parametrised case id, as pytest names it
    outcome: str                  # what the case showed, e.g. "succeeded", "disk failed: ServerBusy"
    recovery_seconds: float | None = None  # fault/kill → job ended, when the case has one
    nodeid: str = ""              # pytest node id: the command that reproduces it
    details: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


def record_case(record: CaseRecord) -> None:
    target = os.environ.get(LOG_ENV)
    if not target:
        return
    line = json.dumps(asdict(record), sort_keys=True)
    # one write of one line in append mode: concurrent test processes never interleave lines
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def read_cases(path: Path) -> list[CaseRecord]:
    if not path.exists():
        return []
    return [CaseRecord(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
