"""The long-running-operation protocol as azure-mgmt-core polls it, with latency and faults."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from diskferry.emulator.admin_client import AdminClient
from tests.conftest import Clients
from tests.emulator.sdkwaits import sdk_waits


def _new_rg(clients: Clients) -> str:
    name = f"lro-{uuid.uuid4().hex[:8]}"
    clients.resource.resource_groups.create_or_update(name, {"location": "westeurope"})
    return name


def test_latency_holds_the_operation_in_progress(clients: Clients, admin: AdminClient) -> None:
    admin.set(lro_latency=1.5)
    name = _new_rg(clients)
    answers: list[Any] = []
    poller = clients.resource.resource_groups.begin_delete(name, raw_response_hook=answers.append)
    assert not poller.done() and clients.resource.resource_groups.check_existence(name)
    poller.result()
    # told to come back while the latency lasts, in whole seconds as Azure's Retry-After
    # (the seconds it took are a figure of tests/benchmarks/timings.py)
    waits = sdk_waits(answers)
    assert waits and all(0 < w <= 2 for w in waits), waits
    assert not clients.resource.resource_groups.check_existence(name)


def test_sub_second_latency_does_not_cost_the_sdk_its_30s_default(clients: Clients, admin: AdminClient) -> None:
    """Each in-progress answer names a sub-second wait (``retry-after-ms``): a whole-second
    ``Retry-After: 0`` would cost the SDK its 30 s default."""
    admin.set(lro_latency=0.3)
    name = _new_rg(clients)
    answers: list[Any] = []
    clients.resource.resource_groups.begin_delete(name, raw_response_hook=answers.append).result()
    waits = sdk_waits(answers)
    assert waits and all(0 < w <= 0.3 for w in waits), waits
    assert not clients.resource.resource_groups.check_existence(name)


def test_per_operation_latency(clients: Clients, admin: AdminClient) -> None:
    admin.set(lro_latency=0, lro_latency_ops={"Microsoft.Resources/*/delete": 1.2})
    name = _new_rg(clients)
    answers: list[Any] = []
    poller = clients.resource.resource_groups.begin_delete(name, raw_response_hook=answers.append)
    assert clients.resource.resource_groups.check_existence(name)  # held: the delete is in progress
    poller.result()
    waits = sdk_waits(answers)
    assert waits and all(0 < w <= 2 for w in waits), waits
    # other operations keep the global latency (none): done by the first status answer
    other: list[Any] = []
    clients.storage.storage_accounts.begin_create(
        _new_rg(clients), f"lro{uuid.uuid4().hex[:8]}", {"location": "westeurope", "sku": {"name": "Standard_LRS"},
                                            "kind": "StorageV2"}, raw_response_hook=other.append).result()
    assert sdk_waits(other) == []


def test_injected_lro_failure_fails_the_poller_and_changes_nothing(clients: Clients, admin: AdminClient) -> None:
    name = _new_rg(clients)
    admin.add_fault(
        "Microsoft.Resources/subscriptions/resourceGroups/delete",
        kind="lro",
        code="ResourceGroupDeletionBlocked",
        message="injected",
    )
    with pytest.raises(HttpResponseError) as err:
        clients.resource.resource_groups.begin_delete(name).result()
    assert "ResourceGroupDeletionBlocked" in str(err.value)
    assert clients.resource.resource_groups.check_existence(name)


def test_http_faults_are_retried_by_the_sdk_and_counted(clients: Clients, admin: AdminClient) -> None:
    name = _new_rg(clients)
    admin.reset_counters()
    admin.add_fault(
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        status=429,
        code="TooManyRequests",
        retry_after=0.2,
        count=2,
    )
    assert clients.resource.resource_groups.get(name).name == name
    assert admin.counters()["Microsoft.Resources/subscriptions/resourceGroups/read"] == 3
    assert admin.call("GET", "/faults") == []


def test_paging_follows_absolute_next_links(clients: Clients, admin: AdminClient) -> None:
    names = {_new_rg(clients) for _ in range(5)}
    admin.set(page_size=2)
    listed = {g.name for g in clients.resource.resource_groups.list()}
    assert names <= listed


def test_retry_after_is_the_providers_hint_not_when_the_operation_ends(clients: Clients, admin: AdminClient) -> None:
    """Azure's providers send a fixed Retry-After (ARM's RPC: 10 s to 10 min), the same at the
    first answer and at the last: a client cannot learn from it when the operation ends."""
    admin.set(lro_latency=3.5, lro_retry_after=1.0)
    name = _new_rg(clients)
    answers: list[Any] = []
    clients.resource.resource_groups.begin_delete(name, raw_response_hook=answers.append).result()
    waits = sdk_waits(answers)
    assert len(waits) >= 3 and set(waits) == {1.0}, waits
