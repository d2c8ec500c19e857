"""ARM throttling as Azure does it: token buckets per subscription and principal for reads,
writes and deletes, the remaining count on every answer, 429 ``SubscriptionRequestsThrottled``
with ``Retry-After`` when a bucket is empty (the call has no effect), and a counter of 429s.

Clients here are built with ``retry_total=0`` so that the SDK hands the 429 back instead of
sleeping and retrying it (what azure-core's RetryPolicy does by default, shown last)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.resources import ResourceManagementClient

from diskferry.emulator.admin_client import AdminClient, AdminError
from diskferry.emulator.testing import EmulatorProcess
from tests.conftest import clients_for, make_clients

Headers = dict[str, str]


class Recorder:
    """Keeps the headers of the last answer (the SDK's ``raw_response_hook``)."""

    def __init__(self) -> None:
        self.headers: Headers = {}

    def __call__(self, response: PipelineResponse) -> None:  # type: ignore[type-arg]
        self.headers = dict(response.http_response.headers)


def _client(credential: ClientSecretCredential, env: dict[str, str]) -> ResourceManagementClient:
    return make_clients(credential, env, retry_total=0).resource


@pytest.fixture
def fresh(spawn_emulator: Callable[[Path], EmulatorProcess], tmp_path: Path) -> Iterator[EmulatorProcess]:
    """An emulator of its own: full buckets with Azure's default sizes."""
    with spawn_emulator(tmp_path / "state") as proc:
        yield proc


def _until_refused(call: Callable[[int], object], limit: int) -> tuple[int, HttpResponseError]:
    """Calls made before the first refusal, and the refusal."""
    for i in range(limit):
        try:
            call(i)
        except HttpResponseError as exc:
            return i, exc
    raise AssertionError(f"{limit} calls and none refused")


def _remaining(rec: Recorder, kind: str) -> int:
    return int(rec.headers[f"x-ms-ratelimit-remaining-subscription-{kind}"])


def test_defaults_are_azures_and_each_kind_has_its_bucket(fresh: EmulatorProcess) -> None:
    settings = fresh.admin().settings()
    assert settings["arm_throttling"] is True
    assert (settings["arm_reads_bucket"], settings["arm_reads_refill"]) == (250, 25)
    assert (settings["arm_writes_bucket"], settings["arm_writes_refill"]) == (200, 10)
    assert (settings["arm_deletes_bucket"], settings["arm_deletes_refill"]) == (200, 10)

    rec = Recorder()
    client = clients_for(fresh, retry_total=0).resource
    client.resource_groups.create_or_update("rg-t", {"location": "westeurope"}, raw_response_hook=rec)
    assert _remaining(rec, "writes") == 199
    assert "x-ms-ratelimit-remaining-subscription-reads" not in rec.headers
    client.resource_groups.get("rg-t", raw_response_hook=rec)
    assert _remaining(rec, "reads") == 249
    # no polling: the poller's own GETs would run the hook from its thread and race the DELETE's
    client.resource_groups.begin_delete("rg-t", polling=False, raw_response_hook=rec)
    assert _remaining(rec, "deletes") == 199
    # the writes bucket refills at 10/s, but never above its size
    time.sleep(0.3)
    client.resource_groups.create_or_update("rg-t2", {"location": "westeurope"}, raw_response_hook=rec)
    assert _remaining(rec, "writes") == 199


def test_the_default_write_bucket_runs_dry_after_about_200_writes(fresh: EmulatorProcess) -> None:
    client = clients_for(fresh, retry_total=0).resource
    start = time.monotonic()
    done, err = _until_refused(
        lambda i: client.resource_groups.create_or_update(f"rg-{i}", {"location": "westeurope"}), 400
    )
    elapsed = time.monotonic() - start
    # 200 at once, then 10 a second while we were sending
    assert 200 <= done <= 200 + 10 * elapsed + 1, (done, elapsed)
    assert err.status_code == 429
    assert err.error is not None and err.error.code == "SubscriptionRequestsThrottled"
    assert f"Number of 'write' requests for subscription '{fresh.env['AZURE_SUBSCRIPTION_ID']}'" in str(err.message)
    assert int(err.response.headers["Retry-After"]) >= 1
    assert fresh.admin().counters()["arm.throttled.writes"] == 1
    # reads have their own bucket, still nearly full
    assert client.resource_groups.get("rg-0").name == "rg-0"


def test_a_throttled_call_has_no_effect_and_retry_after_is_honest(
    credential: ClientSecretCredential, azure_env: dict[str, str], admin: AdminClient
) -> None:
    client = _client(credential, azure_env)
    admin.set(arm_writes_bucket=2, arm_writes_refill=1)
    before = admin.counters().get("arm.throttled.writes", 0)
    names = [f"rg-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    refused: list[HttpResponseError] = []
    for name in names:
        try:
            client.resource_groups.create_or_update(name, {"location": "westeurope"})
        except HttpResponseError as exc:
            refused.append(exc)
    assert len(refused) >= 1
    assert admin.counters()["arm.throttled.writes"] - before == len(refused)
    assert all(exc.status_code == 429 for exc in refused)
    assert refused[-1].response.headers["x-ms-ratelimit-remaining-subscription-writes"] == "0"
    assert not client.resource_groups.check_existence(names[-1])  # refused: not created

    wait = float(refused[-1].response.headers["Retry-After"])
    time.sleep(wait)
    client.resource_groups.create_or_update(names[-1], {"location": "westeurope"})
    assert client.resource_groups.check_existence(names[-1])


def test_settings_apply_at_once_and_throttling_can_be_turned_off(
    credential: ClientSecretCredential, azure_env: dict[str, str], admin: AdminClient
) -> None:
    client = _client(credential, azure_env)
    admin.set(arm_reads_bucket=3, arm_reads_refill=0.5)
    done, err = _until_refused(lambda _: next(iter(client.resource_groups.list())), 5)
    assert (done, err.status_code) == (3, 429)
    admin.set(arm_throttling=False)
    for _ in range(10):
        next(iter(client.resource_groups.list()))

    with pytest.raises(AdminError, match="arm_writes_bucket must be >= 1"):
        admin.set(arm_writes_bucket=0)


def test_a_new_refill_rate_counts_from_its_change_on(
    credential: ClientSecretCredential, azure_env: dict[str, str], admin: AdminClient
) -> None:
    client = _client(credential, azure_env)
    admin.set(arm_reads_bucket=3, arm_reads_refill=0.1)
    _until_refused(lambda _: client.resource_groups.check_existence("rg-none"), 10)
    admin.set(arm_reads_refill=1000)  # refilled within the next few milliseconds...
    time.sleep(0.2)
    admin.set(arm_reads_refill=0.1)  # ...and those 0.2 s count at 1000/s, not at 0.1/s
    done, err = _until_refused(lambda _: client.resource_groups.check_existence("rg-none"), 10)
    assert (done, err.status_code) == (3, 429)


def test_the_sdk_retries_a_429_itself_by_sleeping(
    credential: ClientSecretCredential, azure_env: dict[str, str], admin: AdminClient
) -> None:
    """azure-core's default RetryPolicy honours Retry-After in the caller: what diskferry's
    workers must not let it do (they re-enqueue instead)."""
    client = make_clients(credential, azure_env).resource
    admin.set(arm_writes_bucket=1, arm_writes_refill=1)
    before = admin.counters().get("arm.throttled.writes", 0)
    start = time.monotonic()
    for _ in range(3):
        client.resource_groups.create_or_update(f"rg-{uuid.uuid4().hex[:8]}", {"location": "westeurope"})
    assert admin.counters()["arm.throttled.writes"] > before
    assert time.monotonic() - start >= 1.0
