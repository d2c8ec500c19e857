"""The waiting helper returns the condition's value once it holds and fails with the message."""

from __future__ import annotations

import itertools

import pytest

from tests.waiting import wait_until


def test_returns_the_first_truthy_value() -> None:
    calls = itertools.count(1)
    assert wait_until(lambda: next(calls) >= 3 and "ready", timeout=5, message="never") == "ready"
    assert next(calls) == 4  # called exactly until it held


def test_fails_with_the_message_once_the_timeout_passes() -> None:
    state = {"seen": 0}

    def never() -> bool:
        state["seen"] += 1
        return False

    with pytest.raises(AssertionError, match=r"still nothing after \d+ calls"):
        wait_until(never, timeout=0.2, message=lambda: f"still nothing after {state['seen']} calls", interval=0.01)
    assert state["seen"] > 1
