"""The authority and bearer checks, through MSAL/azure-identity and raw HTTPS."""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.resources import ResourceManagementClient

from diskferry.emulator.admin_client import AdminClient
from tests.conftest import ARM_SCOPE
from tests.waiting import wait_until


def _rg_url(env: dict[str, str]) -> str:
    sub = env["AZURE_SUBSCRIPTION_ID"]
    return f"{env['DISKFERRY_ARM_ENDPOINT']}/subscriptions/{sub}/resourcegroups?api-version=2025-04-01"


def _token(env: dict[str, str], scope: str = ARM_SCOPE) -> str:
    r = requests.post(
        f"{env['AZURE_AUTHORITY_HOST']}/{env['AZURE_TENANT_ID']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": env["AZURE_CLIENT_ID"],
            "client_secret": env["AZURE_CLIENT_SECRET"],
            "scope": scope,
        },
        timeout=10,
    )
    r.raise_for_status()
    return str(r.json()["access_token"])


def test_request_without_token_gets_401(azure_env: dict[str, str]) -> None:
    r = requests.get(_rg_url(azure_env), timeout=10)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "AuthenticationFailed"
    assert r.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")


def test_token_for_another_audience_is_refused(azure_env: dict[str, str]) -> None:
    token = _token(azure_env, "https://storage.azure.com/.default")
    r = requests.get(_rg_url(azure_env), headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"


def test_tampered_token_is_refused(azure_env: dict[str, str]) -> None:
    head, payload, sig = _token(azure_env).split(".")
    forged = f"{head}.{payload}x.{sig}"
    r = requests.get(_rg_url(azure_env), headers={"Authorization": f"Bearer {forged}"}, timeout=10)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "InvalidAuthenticationToken")


def test_expired_token_is_refused(azure_env: dict[str, str], admin: AdminClient) -> None:
    # tokens carry whole-second expiry: 2 s leaves at least 1 s to use it once
    admin.set(token_lifetime=2)
    token = _token(azure_env)
    assert requests.get(_rg_url(azure_env), headers={"Authorization": f"Bearer {token}"}, timeout=10).ok

    def refused() -> tuple[int, str] | None:
        # (a Response is falsy when not ok: return what it says)
        r = requests.get(_rg_url(azure_env), headers={"Authorization": f"Bearer {token}"}, timeout=10)
        return None if r.ok else (r.status_code, r.json()["error"]["code"])

    refusal = wait_until(refused, 10, "the token was still accepted 8 s after it expired", interval=0.2)
    assert refusal == (401, "ExpiredAuthenticationToken")


def test_wrong_client_secret_fails_in_the_sdk(azure_env: dict[str, str]) -> None:
    cred = ClientSecretCredential(
        azure_env["AZURE_TENANT_ID"],
        azure_env["AZURE_CLIENT_ID"],
        "not-the-secret",
        authority=azure_env["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
    )
    client = ResourceManagementClient(
        cred,
        azure_env["AZURE_SUBSCRIPTION_ID"],
        base_url=azure_env["DISKFERRY_ARM_ENDPOINT"],
        credential_scopes=[ARM_SCOPE],
    )
    with pytest.raises(ClientAuthenticationError) as err:
        client.resource_groups.get("anything")
    assert "AADSTS7000215" in str(err.value)


def test_unknown_subscription_is_404(azure_env: dict[str, str]) -> None:
    url = _rg_url(azure_env).replace(azure_env["AZURE_SUBSCRIPTION_ID"], "00000000-0000-0000-0000-000000000001")
    r = requests.get(url, headers={"Authorization": f"Bearer {_token(azure_env)}"}, timeout=10)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "SubscriptionNotFound")


@pytest.mark.parametrize(("status", "code", "error", "retry_after"), [
    (503, "ServerBusy", "temporarily_unavailable", None),
    (429, "ServerBusy", "temporarily_unavailable", 7),
    (401, "invalid_client", "invalid_client", None),
])
def test_a_token_fault_answers_as_entra_id(azure_env: dict[str, str], admin: AdminClient, status: int, code: str,
                                           error: str, retry_after: int | None) -> None:
    """Fault rules on ``oauth2.token``: Entra ID degraded (5xx), throttling (429) or refusing the
    client (4xx), each with OAuth 2.0's error body (RFC 6749 §5.2) and the AADSTS number."""
    admin.add_fault("oauth2.token", status=status, code=code, message="AADSTS90033: A transient error has occurred.",
                    retry_after=retry_after, count=1)
    with pytest.raises(requests.HTTPError) as err:
        _token(azure_env)
    answer = err.value.response
    assert answer.status_code == status
    assert answer.json() == {"error": error, "error_description": "AADSTS90033: A transient error has occurred.",
                             "error_codes": [90033]}
    assert answer.headers.get("Retry-After") == (str(retry_after) if retry_after else None)
    assert _token(azure_env)  # the rule answered once
