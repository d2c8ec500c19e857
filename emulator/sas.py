"""Shared Key and Service SAS signatures, as the Storage service computes them.

Both the emulator's own export SAS URLs (``beginGetAccess``) and the SAS tokens the SDK
generates from an account key (``generate_blob_sas``) are checked here, so the two paths
cannot drift apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote, unquote, urlencode

from diskferry.emulator import clock
from diskferry.emulator.errors import AzureError

#: the service version the emulator signs its own SAS with
SAS_VERSION = "2020-12-06"
#: permission letters in the order Azure requires them in ``sp``
PERMISSION_ORDER = "racwdxltmeopi"


def sign(key_b64: str, string_to_sign: str) -> str:
    key = base64.b64decode(key_b64)
    return base64.b64encode(hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).digest()).decode()


def service_sas_string_to_sign(q: Mapping[str, str], account: str, path: str) -> str:
    """String-to-sign of a blob Service SAS (account key), by signed version ``sv``.

    ``path`` is ``/container`` or ``/container/blob`` (unquoted).
    """
    sv = q.get("sv", "")

    def g(name: str) -> str:
        return q.get(name, "")

    resource = f"/blob/{account}{path}"
    fields = [g("sp"), g("st"), g("se"), resource, g("si"), g("sip"), g("spr"), sv]
    if sv >= "2018-11-09":
        fields += [g("sr"), g("snapshot")]
    if sv >= "2020-12-06":
        fields += [g("ses")]
    fields += [g("rscc"), g("rscd"), g("rsce"), g("rscl"), g("rsct")]
    return "\n".join(fields)


def make_service_sas(
    account: str,
    key_b64: str,
    container: str,
    blob: str,
    permission: str,
    expiry: float,
    start: float | None = None,
) -> str:
    """A blob Service SAS query string (no leading ``?``), signed with ``key_b64``."""
    q: dict[str, str] = {"sv": SAS_VERSION, "sr": "b", "sp": permission, "spr": "https"}
    if start is not None:
        q["st"] = _sas_time(start)
    q["se"] = _sas_time(expiry)
    q["sig"] = sign(key_b64, service_sas_string_to_sign(q, account, f"/{container}/{blob}"))
    return urlencode(q, quote_via=quote, safe="")


def _sas_time(ts: float) -> str:
    return clock.iso(ts)[:19] + "Z"


def is_sas(query: Mapping[str, str]) -> bool:
    return "sig" in query and "sv" in query


def check_service_sas(
    query: Mapping[str, str],
    account: str,
    keys: list[str],
    container: str,
    blob: str | None,
    needed: str,
) -> None:
    """Raise the 403 Azure answers unless ``query`` is a valid SAS granting ``needed``.

    ``needed`` is one permission letter (r, w, c, d, l, a, ...).
    """
    sr = query.get("sr", "")
    if sr not in ("b", "c", "bs", "bv"):
        raise _auth_failure("Signed resource type is not valid.")
    path = f"/{container}" if sr == "c" else f"/{container}/{blob or ''}"
    sts = service_sas_string_to_sign(query, account, path)
    _check_signed(query, keys, sts)
    if needed not in query.get("sp", ""):
        raise AzureError(
            403,
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation using this permission.",
        )


def account_sas_string_to_sign(q: Mapping[str, str], account: str) -> str:
    """String-to-sign of an Account SAS (``generate_account_sas``), by signed version."""
    names = ["sp", "ss", "srt", "st", "se", "sip", "spr", "sv"]
    if q.get("sv", "") >= "2020-12-06":
        names.append("ses")
    return account + "\n" + "".join(q.get(n, "") + "\n" for n in names)


def check_account_sas(
    query: Mapping[str, str], account: str, keys: list[str], resource_type: str, needed: str
) -> None:
    """Like ``check_service_sas`` for an Account SAS on the blob service.

    ``resource_type`` is the ``srt`` letter the call needs: s(ervice), c(ontainer), o(bject).
    """
    _check_signed(query, keys, account_sas_string_to_sign(query, account))
    if "b" not in query.get("ss", "") or resource_type not in query.get("srt", ""):
        raise AzureError(
            403,
            "AuthorizationResourceTypeMismatch",
            "This request is not authorized to perform this operation using this resource type.",
        )
    if needed not in query.get("sp", ""):
        raise AzureError(
            403,
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation using this permission.",
        )


def _check_signed(query: Mapping[str, str], keys: list[str], sts: str) -> None:
    """Signature, time window and protocol of any SAS signed with an account key."""
    sig = query.get("sig", "")
    if not any(hmac.compare_digest(sign(k, sts), sig) for k in keys):
        raise _auth_failure("Signature did not match.")
    now = clock.now()
    try:
        if "st" in query and clock.parse_iso(unquote(query["st"])) > now + 900:
            raise _auth_failure("Signature not valid in the specified time frame.")
        if "se" not in query or clock.parse_iso(unquote(query["se"])) <= now:
            raise _auth_failure("Signature not valid in the specified time frame.")
    except ValueError as exc:
        raise _auth_failure("Signed time fields are not valid.") from exc
    if query.get("spr") == "http":
        raise _auth_failure("This request is not authorized to perform this operation using this protocol.")


def _auth_failure(detail: str) -> AzureError:
    # Azure's answer to a bad or expired SAS (Azurite says AuthorizationFailure instead);
    # the detail is what Azure puts in <AuthenticationErrorDetail>
    return AzureError(
        403,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization header "
        f"is formed correctly including the signature. {detail}",
    )


# ---------------------------------------------------------------------------------------
# Shared Key

_STANDARD = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


def sharedkey_string_to_sign(
    method: str,
    headers: Mapping[str, str],
    account: str,
    raw_path: str,
    query: Mapping[str, str],
) -> str:
    """String-to-sign of the Shared Key scheme (service versions 2015-02-21 and later).

    ``raw_path`` is the request path as sent (still URL-encoded); for path-style URLs it
    already starts with ``/{account}``, and the resource is ``/{account}`` + that path,
    exactly as the SDK and Azurite compute it.
    """
    h = {k.lower(): v for k, v in headers.items()}
    values = []
    for name in _STANDARD:
        v = h.get(name, "")
        if name == "content-length" and v == "0":
            v = ""
        values.append(v)
    canon_headers = "".join(f"{k}:{h[k].strip()}\n" for k in sorted(k for k in h if k.startswith("x-ms-")))
    resource = f"/{account}{raw_path}"
    params: dict[str, list[str]] = {}
    for k, v in query.items():
        params.setdefault(k.lower(), []).append(v)
    for k in sorted(params):
        resource += f"\n{k}:{','.join(sorted(params[k]))}"
    return method.upper() + "\n" + "\n".join(values) + "\n" + canon_headers + resource


_SIGNATURE_MISMATCH = (
    "Server failed to authenticate the request. "
    "Make sure the value of Authorization header is formed correctly including the signature."
)


def check_shared_key(
    method: str,
    headers: Mapping[str, str],
    account: str,
    raw_path: str,
    query: Mapping[str, str],
    keys: list[str],
) -> None:
    auth = headers.get("Authorization", "")
    scheme, _, cred = auth.partition(" ")
    name, _, sig = cred.partition(":")
    if scheme != "SharedKey" or name != account:
        raise AzureError(
            403,
            "AuthenticationFailed",
            _SIGNATURE_MISMATCH,
        )
    sts = sharedkey_string_to_sign(method, headers, account, raw_path, query)
    if not any(hmac.compare_digest(sign(k, sts), sig) for k in keys):
        raise AzureError(
            403,
            "AuthenticationFailed",
            _SIGNATURE_MISMATCH,
        )
