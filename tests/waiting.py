"""``wait_until``: tests wait on the condition they mean, not on a guessed duration.

A fixed sleep is either too short on a loaded machine (a flaky test) or too long everywhere
(a slow suite); polling the condition is as fast as the system allows and fails with a
message that says what did not happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, message: str | Callable[[], str],
               interval: float = 0.05) -> T:
    """Call ``condition`` until it returns something truthy, and return that.

    After ``timeout`` seconds without it, raise ``AssertionError(message)``; a callable
    ``message`` is called then, so that it can show the state at the time of the failure
    (a worker's log, what Redis holds). Beware values whose truth is not their presence: a
    ``requests.Response`` for an error status is falsy, so return what it says instead."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(interval)
