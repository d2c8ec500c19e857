"""The emulator's SAS checks agree with the SAS the real SDK generates."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
from azure.storage.blob import BlobSasPermissions, generate_blob_sas

from diskferry.emulator import sas
from diskferry.emulator.errors import AzureError

KEY = base64.b64encode(os.urandom(32)).decode()


def _query(token: str) -> dict[str, str]:
    return dict(parse_qsl(token))


def _sdk_sas(permission: str = "r", hours: float = 1, key: str = KEY) -> dict[str, str]:
    token = generate_blob_sas(
        "acct1",
        "vhds",
        "disk.vhd",
        account_key=key,
        permission=BlobSasPermissions.from_string(permission),
        expiry=datetime.now(UTC) + timedelta(hours=hours),
    )
    return _query(token)


def test_sdk_generated_sas_is_accepted() -> None:
    sas.check_service_sas(_sdk_sas("rw"), "acct1", [KEY], "vhds", "disk.vhd", "w")


def test_tampered_signature_is_refused() -> None:
    q = _sdk_sas()
    q["sp"] = "rw"
    with pytest.raises(AzureError) as err:
        sas.check_service_sas(q, "acct1", [KEY], "vhds", "disk.vhd", "r")
    assert (err.value.status, err.value.code) == (403, "AuthenticationFailed")


def test_other_blob_or_key_is_refused() -> None:
    q = _sdk_sas()
    for account, blob, keys in (("acct1", "other.vhd", [KEY]), ("acct2", "disk.vhd", [KEY]), ("acct1", "disk.vhd", [])):
        with pytest.raises(AzureError):
            sas.check_service_sas(q, account, keys, "vhds", blob, "r")


def test_expired_sas_is_refused() -> None:
    with pytest.raises(AzureError) as err:
        sas.check_service_sas(_sdk_sas(hours=-1), "acct1", [KEY], "vhds", "disk.vhd", "r")
    assert err.value.code == "AuthenticationFailed"


def test_missing_permission_is_a_mismatch() -> None:
    with pytest.raises(AzureError) as err:
        sas.check_service_sas(_sdk_sas("r"), "acct1", [KEY], "vhds", "disk.vhd", "w")
    assert (err.value.status, err.value.code) == (403, "AuthorizationPermissionMismatch")


def test_own_sas_round_trips() -> None:
    import time

    token = sas.make_service_sas("md-abc", KEY, "c1", "abcd", "r", time.time() + 60)
    sas.check_service_sas(_query(token), "md-abc", [KEY], "c1", "abcd", "r")
