"""How long azure-mgmt-core's poller waits between the answers of a long-running operation,
read from the answers themselves, as the SDK reads them: no stopwatch in a test.

The poller asks for the status once right after the first answer, then, while the status
says in progress, sleeps ``get_retry_after(answer)`` — or its polling interval (30 s by
default) when that is absent or 0 — and asks again (``LROBasePolling._poll``,
``_extract_delay``).
"""

from __future__ import annotations

import json
from typing import Any

from azure.core.pipeline.policies._utils import get_retry_after

#: ARMPolling's default wait when an answer names none
SDK_DEFAULT_WAIT = 30.0


def _in_progress(answer: Any) -> bool:
    """A status answer that keeps the poller polling: 202 on the Location URL, or
    ``"status": "InProgress"`` on the Azure-AsyncOperation URL."""
    response = answer.http_response
    if response.status_code == 202:
        return True
    try:
        body = json.loads(response.text() or "null")
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") == "InProgress"


def sdk_waits(answers: list[Any]) -> list[float]:
    """The waits the SDK took, one per in-progress status answer; collect ``answers`` with
    ``raw_response_hook=answers.append``."""
    return [get_retry_after(a) or SDK_DEFAULT_WAIT for a in answers[1:] if _in_progress(a)]
