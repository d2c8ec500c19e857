"""Tables of the CLI: what an operator copies from them must be whole."""

from __future__ import annotations

from rich.console import Console

from diskferry.model import Phase
from diskferry.producer.views import list_table
from diskferry.state import JobSummary


def test_list_shows_job_ids_whole_on_a_narrow_terminal() -> None:
    jobs = [JobSummary(f"{i:012x}", 0.0, 0.0, Phase.succeeded, 1, 2, 3, 3, 0) for i in (0xABCDEF012345, 7)]
    console = Console(width=40, record=True)

    console.print(list_table(jobs))

    text = console.export_text()
    assert "abcdef012345" in text
    assert "000000000007" in text
