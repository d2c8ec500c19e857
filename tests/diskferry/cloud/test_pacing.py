"""A worker's ``Cloud`` against the local Azure's throttling: it paces its ARM calls with the
shared budget (refusing before sending), learns Azure's remaining counts, and meets a 429 or
a 503 by raising at once — never by sleeping in azure-core's retry policy."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from diskferry.cloud import Cloud
from diskferry.cloud.budget import ArmBudgetExceeded, Budget
from diskferry.config.settings import Settings, TokenBucket
from diskferry.emulator.admin_client import AdminClient
from diskferry.errors import RetryLater, Throttled
from tests.conftest import Clients

READ = "Microsoft.Resources/subscriptions/resourceGroups/read"
WRITE = "Microsoft.Compute/disks/endGetAccess/action"


@pytest.fixture
def budget(redis_url: str, azure_env: dict[str, str]) -> Iterator[Budget]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    # a principal of its own: this test's bucket starts full at the fleet's defaults
    yield Budget(client, Settings.from_env(azure_env).arm_budget, uuid.uuid4().hex)
    client.close()


@pytest.fixture
def cloud(azure_env: dict[str, str], budget: Budget) -> Cloud:
    return Cloud(Settings.from_env(azure_env).azure, budget=budget)


def _count(admin: AdminClient, name: str) -> int:
    return int(admin.counters().get(name, 0))


def _until_refused(call: Callable[[], object], limit: int) -> tuple[int, Exception]:
    for i in range(limit):
        try:
            call()
        except (RetryLater, ArmBudgetExceeded) as exc:
            return i, exc
    raise AssertionError(f"{limit} calls and none refused")


def test_learns_azures_remaining_count(cloud: Cloud, budget: Budget, clients: Clients, rg: str,
                                       admin: AdminClient) -> None:
    admin.set(arm_reads_bucket=60, arm_reads_refill=0.1)
    sub = clients.subscription_id
    assert cloud.storage.resource_group_location(sub, rg) == "francecentral"
    learned = budget.level(sub, "reads")
    seen: dict[str, str] = {}
    clients.resource.resource_groups.get(rg, raw_response_hook=lambda r: seen.update(r.http_response.headers))
    # the fleet's level is what Azure said; the next read (ours) took one more
    assert learned <= 60
    assert abs(int(seen["x-ms-ratelimit-remaining-subscription-reads"]) - (learned - 1)) <= 1


def test_paces_before_azure_has_to_refuse(redis_url: str, azure_env: dict[str, str], clients: Clients, rg: str,
                                          admin: AdminClient) -> None:
    admin.set(arm_reads_bucket=5, arm_reads_refill=0.2)
    # The fleet knows Azure's refill rate but not what is left: it learns that from the first
    # answer. With the default refill (25/s) instead of Azure's 0.2/s, the fleet's bucket would
    # regain a token every 40 ms of these calls and, on a loaded machine, never run dry before
    # Azure's does (seen in CI: Azure refused first).
    settings = Settings.from_env(azure_env)
    limits = dataclasses.replace(settings.arm_budget, reads=TokenBucket(250, 0.2))
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    cloud = Cloud(settings.azure, budget=Budget(client, limits, uuid.uuid4().hex))
    throttled, reads = _count(admin, "arm.throttled.reads"), _count(admin, READ)
    done, exc = _until_refused(lambda: cloud.storage.resource_group_location(clients.subscription_id, rg), 50)
    assert isinstance(exc, ArmBudgetExceeded) and exc.retry_after
    assert 1 <= done <= 6, done
    # refused by the fleet, not by Azure: the refused call was never sent
    assert _count(admin, READ) - reads == done
    assert _count(admin, "arm.throttled.reads") == throttled
    client.close()


def test_a_429_raises_at_once_without_an_sdk_retry(cloud: Cloud, credential: object, azure_env: dict[str, str],
                                                   clients: Clients, admin: AdminClient) -> None:
    from tests.conftest import make_clients

    admin.set(arm_writes_bucket=2, arm_writes_refill=0.2)
    other = make_clients(credential, azure_env, retry_total=0)  # type: ignore[arg-type]
    # an operator's script spends the same principal's writes: the fleet cannot know yet
    for _ in range(2):
        other.resource.resource_groups.create_or_update(f"rg-{uuid.uuid4().hex[:8]}", {"location": "westeurope"})
    throttled, writes = _count(admin, "arm.throttled.writes"), _count(admin, WRITE)
    start = time.monotonic()
    # a write and nothing else (a read first could meet the reads bucket another test spent)
    disk = f"/subscriptions/{clients.subscription_id}/resourceGroups/rg-none/providers/Microsoft.Compute/disks/d1"
    with pytest.raises(Throttled) as err:
        cloud.compute.revoke(disk)
    assert time.monotonic() - start < 1.0  # Retry-After is >= 1 s: nothing slept on it
    assert err.value.code == "SubscriptionRequestsThrottled"
    assert err.value.retry_after is not None and err.value.retry_after >= 1
    assert "Number of 'write' requests" in err.value.message
    assert _count(admin, "arm.throttled.writes") - throttled == 1, (err.value, admin.counters())
    assert _count(admin, WRITE) - writes == 1


def test_a_503_with_retry_after_is_not_slept_on(cloud: Cloud, clients: Clients, rg: str, admin: AdminClient) -> None:
    admin.add_fault(READ, status=503, code="ServerBusy", retry_after=5, count=1)
    reads = _count(admin, READ)
    start = time.monotonic()
    with pytest.raises(RetryLater) as err:
        cloud.storage.resource_group_location(clients.subscription_id, rg)
    assert time.monotonic() - start < 2.0
    assert err.value.code == "ServerBusy" and err.value.retry_after == 5
    assert _count(admin, READ) - reads == 1


def test_a_blob_503_is_not_slept_on_either(cloud: Cloud, clients: Clients, rg: str, admin: AdminClient) -> None:
    """The storage SDK's default retry would sleep 15 s, then 18 s, ... in the worker."""
    name = f"pace{uuid.uuid4().hex[:12]}"
    location = clients.resource.resource_groups.get(rg).location
    clients.storage.storage_accounts.begin_create(
        rg, name, {"location": location, "kind": "StorageV2", "sku": {"name": "Standard_LRS"}}).result()
    account = cloud.storage.get_account(clients.subscription_id, rg, name)
    assert account is not None
    op = "blob.GetContainerProperties"
    admin.add_fault(op, status=503, code="ServerBusy", retry_after=1, count=3)
    calls = _count(admin, op)
    start = time.monotonic()
    with pytest.raises(RetryLater) as err:
        cloud.storage.ensure_container(account, "paced")
    assert time.monotonic() - start < 2.0
    assert err.value.code == "ServerBusy" and err.value.retry_after == 1
    assert _count(admin, op) - calls == 1
    admin.clear_faults()
