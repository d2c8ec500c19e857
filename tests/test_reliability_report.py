"""The report page from recorded lines: totals, one row per case, and the command that reproduces it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tests.reliability import CaseRecord, read_cases
from tests.reliability_report import RunInfo, main, render

RUN = RunInfo(datetime(2026, 11, 30, 6, 30, tzinfo=UTC), "abc123def456", "./scripts/reliability.sh", 0)

LINES = [
    {"matrix": "fault", "case": "copy-403-at-50pct", "outcome": "succeeded", "recovery_seconds": 7.25,
     "nodeid": "tests/fleet/test_fault_matrix.py::test_fault_matrix[mixed]", "details": {"expected": "succeeded"}},
    {"matrix": "fault", "case": "import-lro-fails", "outcome": "succeeded", "recovery_seconds": 7.25,
     "nodeid": "tests/fleet/test_fault_matrix.py::test_fault_matrix[mixed]",
     "details": {"expected": "failed: InternalDiskManagementError"}},
    {"matrix": "bad-input", "case": "region-mars", "outcome": "refused: exit 2 naming 'targets[0].region'",
     "nodeid": "tests/producer/test_bad_inputs.py::test_x[region-mars]", "details": {"documented": True}},
    {"matrix": "kill", "case": "worker-during-polling", "outcome": "failed: a|b", "recovery_seconds": 41.0,
     "nodeid": "tests/fleet/test_kill.py::test_kill[polling]"},
    # the same case recorded twice (a re-run): the last one counts
    {"matrix": "bad-input", "case": "region-mars", "outcome": "refused: exit 2 naming 'targets[0].region'",
     "nodeid": "tests/producer/test_bad_inputs.py::test_x[region-mars]", "details": {"documented": True}},
]


def _cases(tmp_path: Path) -> list[CaseRecord]:
    log = tmp_path / "cases.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    return read_cases(log)


def test_the_page_has_totals_and_a_row_per_case_with_its_command(tmp_path: Path) -> None:
    page = render(_cases(tmp_path), RUN)

    assert "on 2026-11-30 06:30 UTC at commit `abc123def456`" in page
    assert "| kill | 1 | 0 | 1 |" in page
    assert "| fault | 2 | 1 | 1 |" in page
    assert "| bad-input | 1 | 1 | 0 |" in page
    assert "| **all** | **4** | **2** | **2** |" in page
    assert page.index("## kill") < page.index("## fault") < page.index("## bad-input")
    assert ("| copy-403-at-50pct | succeeded | ✓ | 7.2 | `./scripts/test.sh -m \"slow or not slow\" "
            "'tests/fleet/test_fault_matrix.py::test_fault_matrix[mixed]'` |") in page
    assert "| import-lro-fails | succeeded (documented: failed: InternalDiskManagementError) | ✗ | 7.2 |" in page
    assert "| worker-during-polling | failed: a\\|b | ✗ | 41.0 |" in page  # a | in a cell is escaped
    assert "| region-mars | refused: exit 2 naming 'targets[0].region' | ✓ |  |" in page
    assert "pytest: every matrix test passed." in page


def test_a_failed_run_and_a_missing_matrix_are_said(tmp_path: Path) -> None:
    page = render([c for c in _cases(tmp_path) if c.matrix != "kill"], RunInfo(RUN.date, "x", "cmd", 1))

    assert "pytest exited 1: some cases did not behave as documented" in page
    assert "Not in this run: kill (no case recorded)." in page
    assert "## kill" not in page


def test_main_writes_the_page(tmp_path: Path) -> None:
    log = tmp_path / "cases.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    page = tmp_path / "reliability.md"

    assert main([str(log), str(page), "--pytest-exit", "0"]) == 0
    assert page.read_text().startswith("# Reliability report\n")
    assert "| **all** | **4** |" in page.read_text()
