from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import LOG_ENV, CaseRecord, read_cases, record_case


def test_cases_are_written_only_when_a_log_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "cases.jsonl"
    monkeypatch.delenv(LOG_ENV, raising=False)
    record_case(CaseRecord(matrix="kill", case="x", outcome="succeeded"))
    assert not log.exists()

    monkeypatch.setenv(LOG_ENV, str(log))
    record_case(CaseRecord(matrix="kill", case="prepare", outcome="succeeded", recovery_seconds=12.5, nodeid="t::a"))
    record_case(CaseRecord(matrix="fault", case="503", outcome="disk failed: ServerBusy"))
    got = read_cases(log)
    assert [(c.matrix, c.case, c.outcome, c.recovery_seconds) for c in got] == [
        ("kill", "prepare", "succeeded", 12.5), ("fault", "503", "disk failed: ServerBusy", None)]
