"""SDK exceptions → diskferry errors, by what the caller does next.

Azure's own error code is kept (``error.code`` for ARM, ``x-ms-error-code`` for blobs).
Workers' clients do not let azure-core retry 429 and 5xx answers (see ``pacing``); a 429
arrives here as :class:`Throttled` (retried without limit after its ``Retry-After``), a 5xx
or a broken connection as :class:`RetryLater`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from diskferry.errors import (
    ConnectionFailed,
    DiskFailed,
    DiskferryError,
    JobFailed,
    NotFound,
    RetryLater,
    Throttled,
)

T = TypeVar("T")

#: codes of failed long-running operations that are worth running again
_TRANSIENT_CODES = frozenset(
    {"InternalServerError", "InternalExecutionError", "ServerBusy", "OperationTimedOut", "TooManyRequests",
     "RetryableError", "ServiceUnavailable", "InternalError",
     # a token that expired on its way to ARM (or under a worker clock running late): the next
     # call gets a new one, so this is cured by coming back, not a refused identity
     "ExpiredAuthenticationToken"}
)
#: blob codes that mean "this blob/container is not there" (the SDK also maps
#: CannotVerifyCopySource to ResourceNotFoundError, which is a copy failure for us)
_BLOB_NOT_FOUND = frozenset({"BlobNotFound", "ContainerNotFound", "ResourceNotFound"})


def _code_and_message(exc: HttpResponseError) -> tuple[str, str]:
    code = getattr(exc, "error_code", None)  # storage
    if code is not None:
        code = getattr(code, "value", code)
        message = (exc.message or "").split("\n")[0]
        return str(code), message
    if exc.error is not None and exc.error.code:
        return str(exc.error.code), str(exc.error.message or "")
    status = exc.status_code or 0
    return (f"Http{status}" if status else type(exc).__name__), str(exc.message or exc)


def retry_after(headers: Any) -> float | None:
    """Seconds an Azure answer asks the caller to wait (``retry-after-ms``, which the SDKs read
    first, or ``Retry-After`` in seconds), None when it asks nothing."""
    for name, scale in (("retry-after-ms", 0.001), ("Retry-After", 1.0)):
        raw = headers.get(name)
        if raw:
            try:
                return float(raw) * scale
            except ValueError:
                continue
    return None


def _retry_after(exc: HttpResponseError) -> float | None:
    return retry_after(getattr(exc.response, "headers", None) or {})


def translate(exc: Exception, what: str, *, blob: bool = False) -> DiskferryError:
    """The diskferry error for an SDK exception raised while doing ``what``."""
    if isinstance(exc, DiskferryError):
        return exc
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return ConnectionFailed("ConnectionError", f"{what}: {exc}")
    if isinstance(exc, ClientAuthenticationError) and not blob:
        code, message = _code_and_message(exc) if isinstance(exc, HttpResponseError) else ("", str(exc))
        return JobFailed(code or "AuthenticationFailed", f"{what}: {message}")
    if isinstance(exc, HttpResponseError):
        code, message = _code_and_message(exc)
        status = exc.status_code or 0
        text = f"{what}: {message}"
        if blob and code in _BLOB_NOT_FOUND:
            return NotFound(code, text)
        if not blob and isinstance(exc, ResourceNotFoundError):
            return NotFound(code, text)
        if status == 429:
            return Throttled(code, text, _retry_after(exc))
        if status >= 500 or code in _TRANSIENT_CODES:
            return RetryLater(code, text, _retry_after(exc))
        if status in (401, 403) and not blob and code in ("AuthorizationFailed", "InvalidAuthenticationToken"):
            return JobFailed(code, text)
        return DiskFailed(code, text)
    # azure-identity raises its own errors when no credential can be had
    if type(exc).__module__.startswith("azure.identity"):
        return JobFailed("CredentialUnavailable", f"{what}: {exc}")
    raise exc


@contextmanager
def azure_call(what: str, *, blob: bool = False) -> Iterator[None]:
    """Run SDK calls, re-raising their exceptions as diskferry errors."""
    try:
        yield
    except (HttpResponseError, ServiceRequestError, ServiceResponseError, ClientAuthenticationError) as exc:
        raise translate(exc, what, blob=blob) from None
    except Exception as exc:
        if type(exc).__module__.startswith("azure.identity"):
            raise translate(exc, what, blob=blob) from None
        raise


def delete_done(ops: Any, resource_group: str, name: str, what: str) -> bool:
    """``ops.begin_delete(group, name)`` to the end; False when Azure said "not found" (done)."""
    try:
        with azure_call(f"delete {what} {name}"):
            ops.begin_delete(resource_group, name).result()
    except NotFound:
        return False
    return True


def found_or_none(what: str, get: Callable[[], T]) -> T | None:
    """``get()``, or None when Azure says the resource (or its group) does not exist."""
    try:
        with azure_call(what):
            return get()
    except NotFound:
        return None
