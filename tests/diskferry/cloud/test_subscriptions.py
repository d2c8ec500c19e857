"""The subscription's regions through the facade: the SDK's list_locations against the local
Azure, asked once per subscription, and an unknown subscription as NotFound."""

from __future__ import annotations

import pytest

from diskferry.cloud import Cloud
from diskferry.config.settings import Settings
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from diskferry.errors import NotFound
from tests.fleet.checks import delta

LIST = "Microsoft.Resources/subscriptions/locations/read"


def test_regions_are_listed_once_per_subscription(emulator: EmulatorProcess, admin: AdminClient) -> None:
    cloud = Cloud(Settings.from_env(emulator.env).azure)
    sub = emulator.env["AZURE_SUBSCRIPTION_ID"]
    before = admin.counters()

    first = cloud.subscriptions.regions(sub)
    again = cloud.subscriptions.regions(sub.upper())

    assert {"westeurope", "brazilsouth", "francecentral"} <= first
    assert "westeurpoe" not in first
    assert again is first
    assert delta(before, admin.counters()).get(LIST) == 1


def test_an_unknown_subscription_is_not_found(emulator: EmulatorProcess) -> None:
    cloud = Cloud(Settings.from_env(emulator.env).azure)
    with pytest.raises(NotFound) as err:
        cloud.subscriptions.regions("0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9")
    assert err.value.code == "SubscriptionNotFound"
