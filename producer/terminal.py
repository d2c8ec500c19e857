"""All terminal output of the CLI goes through one ``Terminal``.

Human output (tables, live progress) goes to stdout through Rich; ``--json`` switches
every command to one JSON document on stdout (an error's too, ``{"error": ...}``); errors
always go to stderr as well. Keeping that
decision here means commands never print directly.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from typing import Any

from rich.console import Console, RenderableType


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums and containers as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    return value


class Terminal:
    def __init__(self, *, json_mode: bool = False, out: Console | None = None, err: Console | None = None) -> None:
        self.json_mode = json_mode
        self.out = out or Console(highlight=False, soft_wrap=False)
        # soft wrap: an error line stays one line for grep and scripts, however long
        self.err = err or Console(stderr=True, highlight=False, soft_wrap=True)

    @property
    def interactive(self) -> bool:
        return not self.json_mode and self.out.is_terminal

    def print(self, renderable: RenderableType) -> None:
        """Human output; nothing in JSON mode (the command emits one document instead)."""
        if not self.json_mode:
            self.out.print(renderable)

    def line(self, text: str) -> None:
        if not self.json_mode:
            self.out.print(text, markup=False)

    def success(self, text: str) -> None:
        if not self.json_mode:
            self.out.print(f"[green]✓[/] {text}")

    def warning(self, text: str) -> None:
        self.err.print(f"[yellow]warning:[/] {text}", markup=True)

    def error(self, text: str) -> None:
        # markup off for the message itself: Azure messages contain brackets
        self.err.print("[red]error:[/] ", end="")
        self.err.print(text, markup=False)

    def json(self, value: Any) -> None:
        sys.stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=True) + "\n")
        sys.stdout.flush()
