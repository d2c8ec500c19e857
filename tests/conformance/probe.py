"""Recording what a blob service answers, so that two services can be compared step by step.

A scenario drives one :class:`Probe`; every call is a named *step* whose outcome is either
the part of the answer diskferry reads (made comparable: names and hosts replaced by
their roles) or ``Err(status, code)``. Two recordings of the same scenario are compared
step by step and every difference becomes one readable line.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qsl, urlsplit

from azure.core.exceptions import HttpResponseError

from tests.conformance.backends import Backend

T = TypeVar("T")

#: marks an expectation "whatever Azure's documented answer", checked on both backends
ANY = object()


class Err(NamedTuple):
    """A failed call as the caller sees it: HTTP status and ``x-ms-error-code``."""

    status: int | None
    code: str | None


class ClientError(NamedTuple):
    """The SDK refused the call before sending it (e.g. unaligned page offsets)."""

    kind: str


class Step(NamedTuple):
    label: str
    outcome: Any
    #: True when Azurite is known to answer differently from Azure here (not compared)
    azurite_differs: bool


def error_of(exc: HttpResponseError) -> Err:
    """Status and error code; the header is what the service sent (the SDK maps it to an enum)."""
    headers = getattr(exc.response, "headers", None) or {}
    code = headers.get("x-ms-error-code")
    if code is None:
        parsed = getattr(exc, "error_code", None)
        code = getattr(parsed, "value", parsed)
    return Err(exc.status_code, str(code) if code is not None else None)


def plain(result: Any) -> Any:
    """The default view of a call's result: plain values as they are, SDK objects as "ok"."""
    if result is None or isinstance(result, (bool, int, str, tuple, list)):
        return "ok" if result is None else result
    return "ok"


def digest(data: bytes) -> tuple[int, str]:
    """Length and a short SHA-256: enough to tell contents apart in a diff."""
    return len(data), hashlib.sha256(data).hexdigest()[:16]


class Probe:
    """Runs one scenario on one backend and keeps its steps."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.tag = uuid.uuid4().hex[:8]
        self.steps: list[Step] = []
        self.violations: list[str] = []
        self._roles: dict[str, str] = {}
        for i, account in enumerate(backend.accounts):
            self._roles[account.name] = f"<account{i}>"

    # -- names ------------------------------------------------------------------------------
    def name(self, role: str) -> str:
        """A fresh container or blob name for ``role`` (lower-case letters, digits, dashes)."""
        actual = f"cf{self.tag}-{role}"
        self._roles[actual] = f"<{role}>"
        return actual

    def norm(self, value: Any) -> Any:
        """``value`` with actual names replaced by roles, recursively."""
        if isinstance(value, str):
            for actual in sorted(self._roles, key=len, reverse=True):
                value = value.replace(actual, self._roles[actual])
            return value
        if isinstance(value, tuple):
            return tuple(self.norm(v) for v in value)
        if isinstance(value, list):
            return [self.norm(v) for v in value]
        if isinstance(value, dict):
            return {self.norm(k): self.norm(v) for k, v in value.items()}
        return value

    def url_view(self, url: str | None) -> Any:
        """A URL as path (with roles) and the names of its query parameters (values are secrets)."""
        if url is None:
            return None
        parts = urlsplit(url)
        return self.norm(parts.path), tuple(sorted(k for k, _ in parse_qsl(parts.query)))

    # -- steps ------------------------------------------------------------------------------
    def call(
        self,
        label: str,
        fn: Callable[[], T],
        *,
        show: Callable[[T], Any] | None = None,
        expect: Any = ANY,
        azurite_differs: bool = False,
    ) -> T | None:
        """Run ``fn``; record ``show(result)`` (default :func:`plain`) or the error; return the result or None.

        ``expect`` is Azure's documented answer for this step; it is checked on both
        backends (on the emulator only, when ``azurite_differs``).
        """
        result: T | None = None
        try:
            result = fn()
            outcome: Any = self.norm((show or plain)(result))
        except HttpResponseError as exc:
            outcome = error_of(exc)
        except ValueError as exc:
            outcome = ClientError(type(exc).__name__)
        self._record(label, outcome, expect, azurite_differs)
        return result

    def see(self, label: str, value: Any, *, expect: Any = ANY, azurite_differs: bool = False) -> None:
        """Record an observed value (already taken from an earlier step's result)."""
        self._record(label, self.norm(value), expect, azurite_differs)

    def check(self, label: str, ok: bool, detail: str) -> None:
        """A property that must hold on this backend and is not compared (e.g. copy progress)."""
        if not ok:
            self.violations.append(f"{label}: {detail}")

    def _record(self, label: str, outcome: Any, expect: Any, azurite_differs: bool) -> None:
        assert label not in {s.label for s in self.steps}, f"duplicate step label {label!r}"
        self.steps.append(Step(label, outcome, azurite_differs))
        checked = not (azurite_differs and self.backend.name == "azurite")
        if expect is not ANY and checked and outcome != expect:
            self.violations.append(f"{label}: expected {expect!r}, got {outcome!r}")


def compare(reference: list[Step], observed: list[Step], ref_name: str, obs_name: str) -> list[str]:
    """One line per step whose outcome differs (or that only one side reached)."""
    ref = {s.label: s for s in reference}
    obs = {s.label: s for s in observed}
    lines = []
    for label in [*ref, *(k for k in obs if k not in ref)]:
        a, b = ref.get(label), obs.get(label)
        if a is None or b is None:
            lines.append(f"{label}: only on {ref_name if b is None else obs_name}")
        elif a.azurite_differs or b.azurite_differs:
            continue
        elif a.outcome != b.outcome:
            lines.append(f"{label}:\n    {ref_name:>8}: {a.outcome!r}\n    {obs_name:>8}: {b.outcome!r}")
    return lines


Scenario = Callable[[Probe], None]
