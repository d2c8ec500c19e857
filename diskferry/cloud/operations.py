"""Azure's long-running operations, started and then checked — never waited for in a task.

A task that creates a snapshot, grants access, imports a disk, builds an image, deletes or
deallocates starts the operation (``begin_*`` with ``polling=False``), keeps an
:class:`Operation` in the job record and ends; a later run checks it once
(:func:`check`: one status request, and the final GET when it has ended) and re-enqueues
itself with a countdown until it has. No worker slot is held while Azure works.

An operation is kept as azure-core's continuation token: since azure-core 1.38 a JSON
document of the initial request's method and URL and the initial response's status,
non-sensitive headers (``Azure-AsyncOperation``, ``Location``, ``Retry-After``) and body —
no credential, no SAS (a grant's SAS arrives only in the final GET, which is never kept).
ARM's LRO protocol itself is azure-mgmt-core's ``ARMPolling``, driven one step at a time.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.core.polling.base_polling import BadStatus
from azure.mgmt.core.polling.arm_polling import ARMPolling

from diskferry.cloud.errors import azure_call, retry_after, translate
from diskferry.errors import OperationFailed, RetryLater

#: the statuses of an operation that ended without doing its work
_ENDED_BADLY = frozenset({"failed", "canceled", "cancelled"})

Json = dict[str, Any]


@dataclass(frozen=True)
class Operation:
    """A long-running operation diskferry started (what is kept of it between task runs)."""

    #: what it does, for messages ("create snapshot x")
    what: str
    #: whose ARM client checks it
    subscription_id: str
    #: the azure-core continuation token (JSON, base64; no credential)
    token: str
    #: when it was started (epoch seconds)
    started: float
    #: it had ended with its first answer (no status to check)
    done: bool = False
    #: the final resource or result when ``done`` (never a SAS: see ``check``)
    body: Json | None = None
    #: not to be checked again before (epoch seconds; 0: at once): set by a check that found it
    #: running, for every run that meets it (several pairs wait for one snapshot or account)
    due: float = 0.0
    #: when a run last started or checked it (epoch seconds; 0: never): the runs that met it
    #: since without checking it follow that one (``diskferry.pipeline.waits.still_running``)
    checked: float = 0.0
    #: the percentage Azure last reported done, for a wait that reads a resource's own progress
    #: (``diskferry.pipeline.waits.progressed``) rather than an operation's status; None else
    progress: float | None = None
    #: when the fleet expects it to have ended (its start plus the length its kind was learned to
    #: take; 0: not said), for one checked sooner, as Azure asks (a probe: ``waits.PROBE_EVERY``):
    #: the runs that only follow its checks come back then, not after each of them
    expected: float = 0.0
    #: the region Azure runs it in, as its status URL names it (``…/locations/<region>/…``, the
    #: ARM convention); "" when it does not: operations of one kind take as long as each other
    #: within a region, not across regions (``diskferry.pipeline.waits``)
    region: str = ""

    def to_json(self) -> Json:
        doc = asdict(self)
        doc.pop("body")
        if self.progress is None:
            doc.pop("progress")
        for name in ("expected", "region"):
            if not doc[name]:
                doc.pop(name)
        return doc

    @classmethod
    def from_json(cls, doc: Json) -> Operation:
        return cls(what=str(doc["what"]), subscription_id=str(doc["subscription_id"]), token=str(doc["token"]),
                   started=float(doc["started"]), done=bool(doc.get("done")), due=float(doc.get("due") or 0.0),
                   checked=float(doc.get("checked") or 0.0),
                   progress=None if doc.get("progress") is None else float(doc["progress"]),
                   expected=float(doc.get("expected") or 0.0), region=str(doc.get("region") or ""))

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.started


@dataclass(frozen=True)
class Checked:
    """What one check of an operation found."""

    done: bool
    #: the final GET's body when done (a grant's ``accessSAS``, a created resource); None else
    body: Json | None = None
    #: seconds Azure asked to wait before the next check (its ``Retry-After``), when running
    retry_after: float | None = None


def _json(response: PipelineResponse[Any, Any]) -> Json | None:
    text = response.http_response.text()
    return json.loads(text) if text else None


def start(what: str, subscription_id: str, pipeline: Any, begin: Callable[..., Any]) -> Operation:
    """Send the operation's first request (``begin(polling=False, raw_response_hook=...)``);
    an operation Azure ended at once (200 with its final state) comes back ``done``."""
    answers: list[PipelineResponse[Any, Any]] = []
    with azure_call(what):
        begin(polling=False, raw_response_hook=answers.append)
    initial = answers[-1]
    polling = ARMPolling(timeout=0)
    polling.initialize(pipeline, initial, _json)
    token = polling.get_continuation_token()
    if polling.finished():
        checked = _finish(what, polling)
        return Operation(what, subscription_id, token, time.time(), done=True, body=checked.body)
    now = time.time()
    headers = initial.http_response.headers
    # "use the value of Retry-After to schedule how often to check the status" (ARM's guide to
    # asynchronous operations): the first check waits for it
    return Operation(what, subscription_id, token, now, due=now + (retry_after(headers) or 0.0),
                     region=region_of(headers.get("Azure-AsyncOperation") or headers.get("Location") or ""))


#: the region in an operation's status URL: ``…/providers/<namespace>/locations/<region>/operations/…``
_REGION = re.compile(r"/locations/([^/?#]+)/", re.IGNORECASE)


def region_of(status_url: str) -> str:
    """The region an operation runs in, from its status URL ("" when the URL names none)."""
    m = _REGION.search(status_url)
    return m[1].lower() if m else ""


def check(pipeline: Any, op: Operation, *, result: bool = True) -> Checked:
    """One status request; when the operation has ended, its final GET (raises the diskferry
    error of a failed operation, with Azure's code and message). Without ``result`` an
    operation whose status says Succeeded is done without that GET: one ARM read less, and
    ARM's reads budget is what a bulk job's wind-down waits on (issue 8)."""
    if op.done:
        return Checked(True, op.body)
    with azure_call(op.what):
        _, initial, _ = ARMPolling.from_continuation_token(op.token, client=pipeline, deserialization_callback=_json)
    polling = ARMPolling(timeout=0)
    with _status_answers(op.what, polling):
        polling.initialize(pipeline, initial, _json)
        if not polling.finished():
            polling.update_status()
    if not polling.finished():
        return Checked(False, retry_after=_asked_to_wait(polling))
    if not result and str(polling.status()).lower() == "succeeded":
        return Checked(True)
    return _finish(op.what, polling)


def _finish(what: str, polling: ARMPolling) -> Checked:
    try:
        with _status_answers(what, polling):
            polling.run()  # ended: no wait; the final GET when the operation names one
            body = polling.resource()
    except RetryLater as exc:
        # azure-core's ``run`` marks the operation Failed when a status request is answered
        # with an error (429, 5xx) too: only an answer that says Failed is the operation's end
        if str(polling.status()).lower() in _ENDED_BADLY and not _refused(polling):
            raise OperationFailed(exc.code, exc.message, exc.retry_after) from None
        raise
    return Checked(True, body if isinstance(body, dict) else None)


def _asked_to_wait(polling: ARMPolling) -> float | None:
    """The ``Retry-After`` of the last status answer (no public accessor for that answer)."""
    response = getattr(polling, "_pipeline_response", None)
    return None if response is None else retry_after(response.http_response.headers)


def _refused(polling: ARMPolling) -> bool:
    """Whether the last status request itself was refused (an error status: throttled, 5xx),
    rather than answered with the operation's status."""
    response = getattr(polling, "_pipeline_response", None)
    return response is not None and response.http_response.status_code >= 400


@contextmanager
def _status_answers(what: str, polling: ARMPolling) -> Iterator[None]:
    """SDK errors as diskferry's, and a status request Azure answered with an error (429 when
    the fleet's budget or Azure throttles, 5xx): ``ARMPolling`` raises a bare ``BadStatus``
    for those, which says no more than the answer it kept — so that answer is what is judged
    (Throttled, RetryLater, ...), as for any other call."""
    try:
        with azure_call(what):
            yield
    except BadStatus:
        # the answer ARMPolling judged bad is the last one it kept (no public accessor)
        response = polling._pipeline_response.http_response
        raise translate(HttpResponseError(response=response), what) from None
