"""``Cloud``: the compute and storage facades, built once from the settings."""

from __future__ import annotations

import logging

from azure.core.credentials import TokenCredential

from diskferry.cloud import auth, pacing
from diskferry.cloud.budget import Budget
from diskferry.cloud.compute import Compute
from diskferry.cloud.storage import Storage
from diskferry.config.settings import Settings

#: the SDKs log every request and token at INFO: at fleet scale that buries diskferry's own
#: lines (a worker at INFO wrote thousands of lines a minute). Their warnings still show.
for _noisy in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


class Cloud:
    def __init__(self, settings: Settings, credential: TokenCredential | None = None,
                 budget: Budget | None = None) -> None:
        """``budget``: in a worker, the fleet's shared ARM budget; its ARM calls are then
        paced, and a 429 or 5xx raises at once instead of sleeping (see ``pacing``)."""
        self.credential = credential or auth.credential(settings)
        options = auth.client_options(settings)
        if budget is not None:
            options.update(pacing.client_options(budget))
        blob_options = {"connection_verify": settings.ca_bundle} if settings.ca_bundle else {}
        self.compute = Compute(self.credential, options)
        self.storage = Storage(self.credential, options, blob_options)
        self.default_subscription = settings.subscription_id
