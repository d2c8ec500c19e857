"""``Cloud``: the compute, network and storage facades, built once from how diskferry reaches Azure."""

from __future__ import annotations

import logging

from azure.core.credentials import TokenCredential

from diskferry.cloud import auth, pacing
from diskferry.cloud.budget import Budget
from diskferry.cloud.compute import Compute
from diskferry.cloud.network import Network
from diskferry.cloud.operations import Checked, Operation
from diskferry.cloud.storage import Storage, worker_blob_retry
from diskferry.cloud.subscriptions import Subscriptions
from diskferry.config.settings import AzureAccess

#: the SDKs log every request and token at INFO: at fleet scale that buries diskferry's own
#: lines (a worker at INFO wrote thousands of lines a minute). Their warnings still show.
for _noisy in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


class Cloud:
    def __init__(self, azure: AzureAccess, credential: TokenCredential | None = None,
                 budget: Budget | None = None) -> None:
        """``budget``: in a worker, the fleet's shared ARM budget; its ARM calls are then
        paced, and a 429 or 5xx raises at once instead of sleeping (see ``pacing``)."""
        self.credential = credential or auth.credential(azure)
        options = auth.client_options(azure)
        if budget is not None:
            options.update(pacing.client_options(budget))
        blob_options = auth.transport_options(azure)
        if budget is not None:
            blob_options["retry_policy"] = worker_blob_retry()
        self.compute = Compute(self.credential, options)
        self.network = Network(self.credential, options)
        self.storage = Storage(self.credential, options, blob_options)
        self.subscriptions = Subscriptions(self.credential, options)
        self.default_subscription = azure.subscription_id

    def check(self, op: Operation, *, result: bool = True) -> Checked:
        """One look at a long-running operation either facade started; ``result``: read what
        it made once it ended (its body), else its status saying Succeeded is enough."""
        return self.compute.check(op, result=result)
