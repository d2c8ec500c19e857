"""A minimal Microsoft identity platform authority and bearer-token checks.

Serves what MSAL (inside azure-identity's ``ClientSecretCredential``) asks for: the
tenant's OpenID configuration and the v2.0 token endpoint for the client-credentials
grant. Tokens are HS256 JWTs signed with the emulator's key, carrying ``aud`` from the
requested scope, so that ARM and storage can each refuse a token meant for the other,
and ``exp`` so that expiry can be tested.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import time
import uuid
from typing import Any

from aiohttp import web

from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError
from diskferry.emulator.faults import FaultRule

ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")
STORAGE_AUDIENCES = ("https://storage.azure.com",)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(emu: Emulator, audience: str, lifetime: int) -> str:
    now = int(time.time())
    ident = emu.identity
    claims = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{ident.tenant_id}/",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "appid": ident.client_id,
        "oid": ident.client_id,
        "tid": ident.tenant_id,
        "sub": ident.client_id,
        "uti": uuid.uuid4().hex,
    }
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    payload = _b64(json.dumps(claims).encode())
    sig = hmac.new(ident.signing_key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(sig)}"


def _challenge(emu: Emulator, error: str, description: str) -> dict[str, str]:
    uri = f"{emu.arm_url}/{emu.identity.tenant_id}"
    return {
        "WWW-Authenticate": (f'Bearer authorization_uri="{uri}", error="{error}", error_description="{description}"')
    }


def check_bearer(emu: Emulator, authorization: str | None, audiences: tuple[str, ...]) -> dict[str, Any]:
    """The claims of a valid bearer token for one of ``audiences``; AzureError(401) otherwise."""
    if not authorization:
        raise AzureError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            headers=_challenge(
                emu, "invalid_token", "The authentication failed because of missing 'Authorization' header."
            ),
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or token.count(".") != 2:
        raise AzureError(
            401,
            "AuthenticationFailedInvalidHeader",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
            headers=_challenge(emu, "invalid_token", "invalid format"),
        )
    header, payload, sig = token.split(".")
    expected = hmac.new(emu.identity.signing_key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    try:
        valid_sig = hmac.compare_digest(expected, _unb64(sig))
        claims = json.loads(_unb64(payload))
    except ValueError:
        valid_sig, claims = False, {}
    if not valid_sig:
        raise AzureError(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
            headers=_challenge(emu, "invalid_token", "The access token is invalid."),
        )
    if claims.get("exp", 0) <= time.time():
        raise AzureError(
            401,
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
            headers=_challenge(emu, "invalid_token", "The access token has expired."),
        )
    aud = str(claims.get("aud", "")).rstrip("/")
    if aud not in audiences:
        raise AzureError(
            401,
            "InvalidAuthenticationTokenAudience",
            f"The access token has been obtained for wrong audience or resource '{aud}'.",
            headers=_challenge(emu, "invalid_token", "wrong audience"),
        )
    return dict(claims)


# ---------------------------------------------------------------------------------------
# the authority's endpoints


async def openid_configuration(request: web.Request) -> web.Response:
    emu: Emulator = request.app["emu"]
    tenant = request.match_info["tenant"]
    base = f"{emu.arm_url}/{tenant}"
    return web.json_response(
        {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "issuer": f"{base}/v2.0",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "token"],
            "tenant_region_scope": "EU",
        }
    )


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> web.Response:
    """Entra ID's error answer to a token request: OAuth 2.0's ``error`` (RFC 6749 §5.2), the
    ``AADSTS`` description and its number in ``error_codes``."""
    codes = [int(n) for n in re.findall(r"AADSTS(\d+)", description)]
    return web.json_response(
        {"error": error, "error_description": description, "error_codes": codes}, status=status, headers=headers
    )


def _injected(fault: FaultRule) -> web.Response:
    """A fault rule on ``oauth2.token``: Entra ID unavailable (a 5xx: ``temporarily_unavailable``,
    RFC 6749's code for "cannot handle the request ... temporary overloading or maintenance"),
    throttling (429, with ``Retry-After``), or refusing the client (a 4xx with an OAuth code as
    the rule's ``code``: ``invalid_client`` is what a rotated or expired secret meets)."""
    error = fault.code if fault.status < 500 and fault.status != 429 else "temporarily_unavailable"
    extra = {"Retry-After": str(math.ceil(fault.retry_after))} if fault.retry_after is not None else None
    return _oauth_error(fault.status, error, fault.message, extra)


async def token(request: web.Request) -> web.Response:
    emu: Emulator = request.app["emu"]
    emu.faults.count("oauth2.token")
    fault = emu.faults.take("oauth2.token", "http", request.path)
    if fault is not None:
        return _injected(fault)
    form = await request.post()
    ident = emu.identity
    tenant = request.match_info["tenant"]
    if tenant.lower() not in (ident.tenant_id.lower(), "organizations"):
        return _oauth_error(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "AADSTS70003: only client_credentials is served.")
    if form.get("client_id") != ident.client_id:
        return _oauth_error(
            400,
            "unauthorized_client",
            f"AADSTS700016: Application with identifier '{form.get('client_id')!s}' was not found.",
        )
    secret = str(form.get("client_secret", ""))
    if not hmac.compare_digest(secret.encode(), ident.client_secret.encode()):
        return _oauth_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
    scope = str(form.get("scope", "")).split()[0] if form.get("scope") else ""
    if not scope.endswith("/.default"):
        return _oauth_error(400, "invalid_scope", f"AADSTS1002012: The provided value for scope {scope} is not valid.")
    audience = scope.removesuffix("/.default").rstrip("/")
    lifetime = emu.faults.settings.token_lifetime
    return web.json_response(
        {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": issue_token(emu, audience, lifetime),
        }
    )


def register(app: web.Application) -> None:
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
