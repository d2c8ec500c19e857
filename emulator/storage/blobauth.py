"""Who may make a blob call: Shared Key, a SAS (service or account), or a bearer token.

Checks run before any existence check, as in Azure, and answer with the storage service's
codes (``AuthenticationFailed``, ``AuthorizationFailure``, ``AuthorizationPermissionMismatch``,
``InvalidAuthenticationInfo`` with a bearer challenge, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from aiohttp import web

from diskferry.emulator import auth, sas
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError
from diskferry.emulator.storage import model

#: "sharedkey", "sas" or "bearer": how a call was authorized
Principal = Literal["sharedkey", "sas", "bearer"]


def authorize(
    emu: Emulator,
    request: web.Request,
    account: dict[str, Any],
    container: str | None,
    blob: str | None,
    needed: str,
) -> Principal:
    """Check the call's credentials for ``needed`` (a SAS permission letter); Azure's error if not.

    ``container``/``blob`` name the resource (None for service-level and container-level
    calls), which decides the SAS resource type that must be granted.
    """
    name = account["name"]
    keys = model.account_keys(account)
    query = request.query
    if sas.is_sas(query):
        check_sas(query, name, keys, container, blob, needed)
        return "sas"
    header = request.headers.get("Authorization")
    if header is None:
        # a private container answers anonymous calls as if nothing were there
        raise AzureError(404, "ResourceNotFound", "The specified resource does not exist.")
    scheme = header.split(" ", 1)[0]
    if scheme == "SharedKey":
        if account["properties"].get("allowSharedKeyAccess") is False:
            raise AzureError(
                403,
                "KeyBasedAuthenticationNotPermitted",
                "Key based authentication is not permitted on this storage account.",
            )
        sas.check_shared_key(request.method, request.headers, name, request.rel_url.raw_path, query, keys)
        return "sharedkey"
    if scheme.lower() == "bearer":
        check_bearer(emu, header, name)
        if not emu.faults.settings.blob_data_role:
            # a valid token of a principal without a blob data role: Azure's answer to it
            raise AzureError(403, "AuthorizationPermissionMismatch",
                             "This request is not authorized to perform this operation using this permission.")
        return "bearer"
    raise AzureError(
        403,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization header "
        "is formed correctly including the signature.",
    )


def check_sas(
    query: Mapping[str, str], account: str, keys: list[str], container: str | None, blob: str | None, needed: str
) -> None:
    """A service SAS (``sr``) or account SAS (``ss``/``srt``) granting ``needed`` here."""
    if "sr" in query:
        if container is None:
            raise AzureError(
                403,
                "AuthorizationResourceTypeMismatch",
                "This request is not authorized to perform this operation using this resource type.",
            )
        sas.check_service_sas(query, account, keys, container, blob, needed)
    elif "ss" in query:
        resource_type = "o" if blob is not None else "c" if container is not None else "s"
        sas.check_account_sas(query, account, keys, resource_type, needed)
    else:
        raise AzureError(
            403,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Signature fields not well formed.",
        )


def check_bearer(emu: Emulator, header: str, account: str) -> None:
    """A token of the emulator's authority for Storage (or this account's endpoint)."""
    audiences = (*auth.STORAGE_AUDIENCES, f"{emu.blob_url}/{account}")
    try:
        auth.check_bearer(emu, header, audiences)
    except AzureError as err:
        challenge = (
            f"Bearer authorization_uri={emu.arm_url}/{emu.identity.tenant_id}/oauth2/authorize "
            f"resource_id={auth.STORAGE_AUDIENCES[0]}"
        )
        raise AzureError(
            401,
            "InvalidAuthenticationInfo",
            f"Server failed to authenticate the request. {err.message}",
            headers={"WWW-Authenticate": challenge},
        ) from err
