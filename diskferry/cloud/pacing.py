"""ARM calls paced by the shared :class:`~diskferry.cloud.budget.Budget`, and no retry sleeps.

Two things make a worker slot wait on Azure, and both are removed here for the management
clients that workers use:

* azure-core's ``RetryPolicy`` retries 429 and 5xx answers itself, sleeping ``Retry-After``
  (or an exponential backoff) inside the calling process (``is_retry``: any answer >= 400
  carrying ``Retry-After`` is retried, whatever ``retry_on_status_codes`` says — that option
  only *adds* codes to 408/429/500/502/503/504). ``retry_status=0`` makes the first such
  answer final (``increment`` takes the status count below 0, so ``is_exhausted``): the
  SDK raises, :mod:`diskferry.cloud.errors` turns it into ``RetryLater(retry_after=…)`` and
  the task re-enqueues itself. Connection and read errors keep their few quick retries
  (``retry_connect``/``retry_read``, 3 each, backoff ``retry_backoff_factor`` 0.8 s doubling,
  none before the first retry), which bound a dropped connection to seconds.
* the fleet's own budget: :class:`ArmPacing` takes a token before every attempt (it is the
  client's ``custom_hook_policy``, which the generated clients place after the retry and
  authentication policies, so it sees each attempt, LRO status polls included) and raises
  :class:`~diskferry.cloud.budget.ArmBudgetExceeded` instead of sending when none is left;
  every answer teaches the budget what Azure says remains.
"""

from __future__ import annotations

import re
from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import CustomHookPolicy

from diskferry.cloud.budget import Budget, Kind
from diskferry.cloud.errors import retry_after

#: the request context's entry for the budget's level after the call's token
_LEVEL = "diskferry_budget_level"
_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?#]+)", re.IGNORECASE)


def kind_of(method: str) -> Kind:
    """ARM's kind of a call: GET/HEAD read, DELETE delete, anything else writes."""
    method = method.upper()
    if method in ("GET", "HEAD"):
        return "reads"
    return "deletes" if method == "DELETE" else "writes"


class ArmPacing(CustomHookPolicy[Any, Any]):
    """Take a token before each subscription-scoped ARM call; learn from every answer.

    It takes the place of the client's ``CustomHookPolicy``, so it keeps its work too: a
    call's own ``raw_response_hook`` (how :mod:`diskferry.cloud.operations` reads the first
    answer of an operation it starts) still runs."""

    def __init__(self, budget: Budget) -> None:
        super().__init__()
        self._budget = budget

    @staticmethod
    def _scope(request: PipelineRequest[Any]) -> tuple[str, Kind] | None:
        http = request.http_request
        m = _SUBSCRIPTION.search(http.url)
        return (m[1], kind_of(http.method)) if m else None

    def on_request(self, request: PipelineRequest[Any]) -> None:
        scope = self._scope(request)
        if scope is not None:
            request.context[_LEVEL] = self._budget.take(*scope)
        super().on_request(request)

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        super().on_response(request, response)
        scope = self._scope(request)
        if scope is None:
            return
        sub, kind = scope
        headers = response.http_response.headers
        raw = headers.get(f"x-ms-ratelimit-remaining-subscription-{kind}")
        remaining = int(raw) if raw is not None and raw.strip().isdigit() else None
        throttled = response.http_response.status_code == 429
        self._budget.learn(sub, kind, remaining=remaining, retry_after=retry_after(headers) if throttled else None,
                           expected=request.context.get(_LEVEL))


def client_options(budget: Budget) -> dict[str, Any]:
    """Options for a management client used in a worker: paced, and no status retries."""
    return {"custom_hook_policy": ArmPacing(budget), "retry_status": 0}
