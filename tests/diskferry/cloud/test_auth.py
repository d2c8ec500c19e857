"""Entra ID on a bad day, met through a worker's ``Cloud``: a token endpoint that is degraded
(5xx) or throttling (429) makes the step come back later, at once and without sleeping; one
that refuses the client (a rotated or expired secret) is an authentication failure."""

from __future__ import annotations

import time

import pytest

from diskferry.cloud import Cloud
from diskferry.config.settings import Settings
from diskferry.emulator.admin_client import AdminClient
from diskferry.errors import JobFailed, RetryLater
from tests.conftest import Clients
from tests.waiting import wait_until

TOKEN = "oauth2.token"
TRANSIENT = "AADSTS90033: A transient error has occurred. Please try again."


def _tokens(admin: AdminClient) -> int:
    return int(admin.counters().get(TOKEN, 0))


@pytest.fixture
def fresh(azure_env: dict[str, str]) -> Cloud:
    """A worker's Cloud that holds no token yet: its first ARM call asks Entra ID for one."""
    return Cloud(Settings.from_env(azure_env).azure)


def test_entra_unavailable_sends_the_step_back_without_sleeping(fresh: Cloud, clients: Clients, rg: str,
                                                                 admin: AdminClient) -> None:
    admin.add_fault(TOKEN, status=503, code="temporarily_unavailable", message=TRANSIENT, count=-1)
    before = _tokens(admin)
    start = time.monotonic()
    with pytest.raises(RetryLater) as err:
        fresh.storage.resource_group_location(clients.subscription_id, rg)
    # azure-identity's default policy asked 4 times and slept 4.8 s in the worker, then failed the job
    assert time.monotonic() - start < 1.0
    assert err.value.code == "EntraUnavailable" and "AADSTS90033" in err.value.message, err.value
    assert _tokens(admin) - before == 1
    # within MSAL's throttle window it answers from its memory of the 503: still "later"
    with pytest.raises(RetryLater):
        fresh.storage.resource_group_location(clients.subscription_id, rg)
    admin.clear_faults()
    # Entra ID is back: the same Cloud gets its token (once MSAL's window of 5 s is over)
    assert wait_until(lambda: _location_or_none(fresh, clients, rg), 10, "no token after Entra ID came back",
                      interval=0.5) == "francecentral"


def _location_or_none(cloud: Cloud, clients: Clients, rg: str) -> str | None:
    try:
        return cloud.storage.resource_group_location(clients.subscription_id, rg)
    except RetryLater:
        return None


def test_entra_throttling_says_when_to_come_back(fresh: Cloud, clients: Clients, rg: str, admin: AdminClient) -> None:
    admin.add_fault(TOKEN, status=429, code="temporarily_unavailable", message=TRANSIENT, retry_after=7, count=-1)
    for _ in range(2):  # asked, then answered by MSAL from the 429 it keeps for its Retry-After
        with pytest.raises(RetryLater) as err:
            fresh.storage.resource_group_location(clients.subscription_id, rg)
        assert err.value.code == "EntraUnavailable" and err.value.retry_after == 7, err.value


def test_a_refused_client_is_an_authentication_failure(fresh: Cloud, clients: Clients, rg: str,
                                                       admin: AdminClient) -> None:
    expired = "AADSTS7000222: The provided client secret keys for app '…' are expired."
    admin.add_fault(TOKEN, status=401, code="invalid_client", message=expired, count=1)
    with pytest.raises(JobFailed) as err:
        fresh.storage.resource_group_location(clients.subscription_id, rg)
    assert "AADSTS7000222" in err.value.message
    # not remembered as "unavailable": the next call asks again, and gets its token
    assert fresh.storage.resource_group_location(clients.subscription_id, rg) == "francecentral"
