"""The credential and client options, from how diskferry reaches Azure.

Entra ID has bad days too: its token endpoint answers 5xx while degraded and 429 when it
throttles a client. azure-identity's own retry policy sleeps through those inside the worker
(measured against the local Azure: 4 asks and 4.8 s for a 503; a 429's ``Retry-After`` each
time), then raises the same ``ClientAuthenticationError`` as for a client secret that is wrong
— which diskferry reads as "nothing of this job can go on" and fails disks over. So a service
principal's credential gets the fleet's no-sleep policy (as ARM's clients,
:mod:`diskferry.cloud.pacing`), and :class:`FleetCredential` tells the two apart by the token
endpoint's answer: unavailable or throttling is :class:`~diskferry.errors.AzureUnavailable`
(the step comes back by countdown, after Entra's ``Retry-After``, for as long as the outage
lasts); a refusal (4xx: ``invalid_client``, an unknown application) stays an
authentication failure.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError
from azure.identity import ClientSecretCredential, CredentialUnavailableError, DefaultAzureCredential

from diskferry.cloud.errors import retry_after
from diskferry.config.settings import AzureAccess
from diskferry.errors import AzureUnavailable

#: what MSAL's error says when it met (or, within its own throttle window, remembers) an
#: answer without an OAuth body (msal/throttled_http_client.py: "HTTP Error: 503")
_HTTP_ERROR = re.compile(r"HTTP Error: (\d{3})")


#: how long MSAL answers a token request from the 429 or 5xx it met, without asking again
#: (msal/throttled_http_client.py: the answer's Retry-After, else 5 s)
_MSAL_THROTTLE_SECONDS = 5.0


class _TokenAnswers(threading.local):
    """The last answer of the token endpoint in this thread (the credential's pipeline hook)."""

    status: int | None = None
    retry_after: float | None = None
    #: Entra ID's ``error_description`` (``AADSTS…``), which MSAL drops from a 5xx's error
    description: str | None = None
    at: float = 0.0

    def record(self, response: Any) -> None:
        http = response.http_response
        self.status, self.retry_after, self.at = http.status_code, retry_after(http.headers), time.monotonic()
        self.description = None
        if http.status_code >= 400:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                self.description = str(json.loads(http.text())["error_description"])

    def unavailable_since(self, seen: float) -> bool:
        """Whether the token endpoint's last answer said it was unavailable (5xx) or throttling
        (429): one this call got (newer than ``seen``), or — when this call got none, MSAL having
        answered from its memory of that answer — one still within MSAL's throttle window."""
        if self.status is None or not _transient(self.status):
            return False
        return self.at != seen or time.monotonic() - self.at <= max(self.retry_after or 0.0, _MSAL_THROTTLE_SECONDS) + 1


class FleetCredential:
    """A token credential whose failures say whether Entra ID was unavailable (retry later) or
    refused (see the module's docstring)."""

    def __init__(self, inner: TokenCredential, answers: _TokenAnswers) -> None:
        self._inner = inner
        self._answers = answers

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        seen = self._answers.at
        try:
            return self._inner.get_token(*scopes, **kwargs)
        except ClientAuthenticationError as exc:
            raise self._unavailable(exc, seen) or exc from None

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        seen = self._answers.at
        try:
            return self._inner.get_token_info(*scopes, options=options)  # type: ignore[attr-defined,no-any-return]
        except ClientAuthenticationError as exc:
            raise self._unavailable(exc, seen) or exc from None

    def close(self) -> None:
        self._inner.close()  # type: ignore[attr-defined]

    def _unavailable(self, exc: ClientAuthenticationError, seen: float) -> AzureUnavailable | None:
        """The error for a token request Entra ID could not serve, else None."""
        if isinstance(exc, CredentialUnavailableError):
            return None  # nothing to ask with: no credential configured here
        answers = self._answers
        m = _HTTP_ERROR.search(str(exc.message))
        if not (answers.unavailable_since(seen)
                or (m is not None and _transient(int(m.group(1))))
                or isinstance(exc.__context__, ServiceRequestError | ServiceResponseError)):
            return None
        said = answers.description if answers.at != seen else None
        wait = answers.retry_after if answers.status and _transient(answers.status) else None
        return AzureUnavailable("EntraUnavailable", f"Entra ID could not issue a token: {said or exc.message}", wait)


def _transient(status: int) -> bool:
    """A token endpoint's answer that says "not now": 5xx, 429 (throttling), 410 (IMDS, the
    managed identity endpoint, while it is updated: Azure's docs say to retry for 70 s)."""
    return status >= 500 or status in (429, 410)


def credential(azure: AzureAccess) -> TokenCredential:
    """A service principal when one is configured, else DefaultAzureCredential."""
    ident = azure.identity
    answers = _TokenAnswers()
    options = transport_options(azure) | {"raw_response_hook": answers.record}
    inner: TokenCredential
    if ident.uses_client_secret:
        assert ident.tenant_id and ident.client_id and ident.client_secret
        if ident.authority_host:
            options["authority"] = ident.authority_host
        # no sleeping on Entra's 5xx or 429 (the step comes back instead); one quick retry of a
        # dropped connection
        inner = ClientSecretCredential(
            ident.tenant_id, ident.client_id, ident.client_secret, disable_instance_discovery=True,
            retry_status=0, retry_connect=1, retry_read=1, **options,
        )
    else:
        # its managed identity keeps azure-identity's own IMDS policy: IMDS answers 410 for up to
        # 70 s while it is updated, and the policy waits that out (our options would override it)
        inner = DefaultAzureCredential(**options)
    return FleetCredential(inner, answers)


def client_options(azure: AzureAccess) -> dict[str, Any]:
    """Keyword arguments for every management client: endpoint, scope, TLS trust."""
    options: dict[str, Any] = {
        "base_url": azure.arm_endpoint,
        "credential_scopes": [azure.arm_scope],
    } | transport_options(azure)
    return options


def transport_options(azure: AzureAccess) -> dict[str, Any]:
    """Keyword arguments for the HTTP transport of every client (management and blob)."""
    options: dict[str, Any] = {"use_env_settings": azure.env_network}
    if azure.ca_bundle:
        options["connection_verify"] = azure.ca_bundle
    return options
