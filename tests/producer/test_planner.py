"""Planner rules that need no Azure: how targets share (or do not share) staging accounts.

The cloud handed to the planner points at a port where nothing listens: resolving targets
without a named staging account must not call Azure at all."""

from __future__ import annotations

from diskferry.cloud import Cloud
from diskferry.config.settings import AzureAccess, AzureIdentity
from diskferry.producer.jobfile import parse
from diskferry.producer.planner import _resolve_targets
from tests.diskferry.factories import SUB, vm_source

OTHER_SUB = "00000000-0000-0000-0000-000000000002"
NOWHERE = AzureAccess(arm_endpoint="https://127.0.0.1:9", identity=AzureIdentity("t", "c", "s", "https://127.0.0.1:9"))


def test_targets_of_one_region_share_an_account_per_subscription() -> None:
    spec = parse({"source": {"resource_group": "src-rg", "vms": ["web-1"]}, "targets": [
        {"region": "westeurope", "resource_group": "we-a"},
        {"region": "West Europe", "resource_group": "we-b"},
        {"region": "westeurope", "resource_group": "we-c", "subscription_id": OTHER_SUB},
        {"region": "brazilsouth", "resource_group": "br"},
    ]})
    a, b, c, br = _resolve_targets(Cloud(NOWHERE), spec, [vm_source()], "0123456789ab")

    assert a.staging is not None and b.staging is not None and c.staging is not None and br.staging is not None
    # one account for the region in the first target's group, shared within the subscription
    assert b.staging == a.staging and (a.staging.resource_group, a.subscription_id) == ("we-a", SUB)
    # another subscription: an account of its own there (names are global, so another name)
    assert (c.staging.resource_group, c.subscription_id) == ("we-c", OTHER_SUB)
    assert c.staging.name != a.staging.name
    assert len({a.staging.name, c.staging.name, br.staging.name}) == 3
    assert all(t.staging is not None and t.staging.created_by_job for t in (a, b, c, br))
