"""The regions of a subscription (``GET /subscriptions/{id}/locations``), for checking a job's
target regions before anything is planned or made.

The same call ``az account list-locations`` makes. A subscription's list changes rarely and a
job asks for it once per subscription, so it is kept for the life of this object.
"""

from __future__ import annotations

import threading
from typing import Any

from azure.core.credentials import TokenCredential
from azure.mgmt.resource.subscriptions import SubscriptionClient

from diskferry.cloud.errors import azure_call


class Subscriptions:
    def __init__(self, credential: TokenCredential, options: dict[str, Any]) -> None:
        self._client = SubscriptionClient(credential, **options)
        self._regions: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def regions(self, subscription_id: str) -> frozenset[str]:
        """The region names (``westeurope``) the subscription can create resources in."""
        key = subscription_id.lower()
        with self._lock:
            if key not in self._regions:
                with azure_call(f"list the locations of subscription {subscription_id}"):
                    found = self._client.subscriptions.list_locations(subscription_id)
                    self._regions[key] = frozenset(str(loc.name).lower() for loc in found if loc.name)
            return self._regions[key]
