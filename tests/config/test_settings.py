from __future__ import annotations

import re

import pytest

from diskferry.config.celeryconfig import FORGET, WATCH_COPIES, WATCHDOG, celery_config
from diskferry.config.settings import ArmBudget, Settings, SettingsError, TokenBucket


def test_defaults_and_derived_urls() -> None:
    s = Settings.from_env({"DISKFERRY_BROKER_URL": "redis://h:1/3"})
    assert s.result_backend == s.state_url == "redis://h:1/3"
    assert s.azure.arm_endpoint == "https://management.azure.com"
    assert not s.azure.identity.uses_client_secret
    assert (s.queue, s.poll_queue) == ("diskferry", "diskferry.poll")


def test_client_secret_identity_and_secrets_hidden() -> None:
    s = Settings.from_env(
        {
            "AZURE_TENANT_ID": "t",
            "AZURE_CLIENT_ID": "c",
            "AZURE_CLIENT_SECRET": "very-secret",
            "DISKFERRY_VAULT_KEY": "vault-secret",
            "DISKFERRY_ARM_ENDPOINT": "https://127.0.0.1:9/",
        }
    )
    assert s.azure.identity.uses_client_secret
    assert s.azure.arm_endpoint == "https://127.0.0.1:9"
    assert "very-secret" not in repr(s) and "vault-secret" not in repr(s)


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="DISKFERRY_POLL_SECONDS"):
        Settings.from_env({"DISKFERRY_POLL_SECONDS": "soon"})
    with pytest.raises(SettingsError, match="DISKFERRY_VISIBILITY_TIMEOUT"):
        Settings.from_env({"DISKFERRY_POLL_SECONDS": "100", "DISKFERRY_VISIBILITY_TIMEOUT": "300"})


def test_sas_lifetime_fits_the_copy() -> None:
    s = Settings.from_env({"DISKFERRY_SAS_BANDWIDTH": str(1024 * 1024), "DISKFERRY_SAS_MARGIN": "2"})
    assert s.sas.lifetime(1024 * 1024) == 3600  # at least an hour
    assert s.sas.lifetime(10 * 1024**3) == 20480  # 10 GiB at 1 MiB/s, x2
    assert s.sas.lifetime(10 * 1024**5) == 60 * 24 * 3600  # never beyond Azure's 60 days


def test_celery_config_is_safe_on_redis() -> None:
    s = Settings.from_env({"DISKFERRY_COPY_DEADLINE_SECONDS": "7200"})
    c = celery_config(s)
    assert c["task_acks_late"] and c["task_reject_on_worker_lost"]
    assert c["worker_prefetch_multiplier"] == 1
    assert c["broker_transport_options"]["visibility_timeout"] == s.visibility_timeout
    # kombu's sweep every 2 x 5 = 10 s, not 100 s; the 2 s tick is the rescue's beat, and a
    # worker silent for worker_lost_seconds has its messages given back
    options = c["broker_transport_options"]
    assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] == 10
    assert options["unacked_restore_interval"] * 5 <= options["worker_lost_seconds"] == s.worker_lost_seconds
    assert c["result_backend_transport_options"]["visibility_timeout"] == s.visibility_timeout
    # the copy queue (prepares, finalizes) and the poll queue are taken in turn: neither starves
    assert c["broker_transport_options"]["queue_order_strategy"] == "round_robin"
    assert c["result_expires"] > s.copy_deadline_seconds
    assert c["result_extended"] is False
    assert c["worker_send_task_events"] and c["task_send_sent_event"]
    # the watchdog and the copy watchers re-enqueue themselves with a countdown: on the poll queue
    assert {n: r["queue"] for n, r in c["task_routes"].items() if r["queue"] != "diskferry"} == {
        WATCHDOG: "diskferry.poll", FORGET: "diskferry.poll", WATCH_COPIES: "diskferry.poll"}


def test_a_lost_worker_is_judged_over_several_beats() -> None:
    assert Settings.from_env({}).worker_lost_seconds == 15.0
    assert Settings.from_env({"DISKFERRY_WORKER_LOST_SECONDS": "10"}).worker_lost_seconds == 10.0
    with pytest.raises(SettingsError, match="DISKFERRY_WORKER_LOST_SECONDS must be at least 10"):
        Settings.from_env({"DISKFERRY_WORKER_LOST_SECONDS": "4"})


def test_the_watchdog_is_held_like_a_poll() -> None:
    s = Settings.from_env({})
    assert (s.watchdog_seconds, s.watchdog_grace_seconds) == (60.0, 600.0)
    with pytest.raises(SettingsError, match="DISKFERRY_WATCHDOG_SECONDS"):
        Settings.from_env({"DISKFERRY_VISIBILITY_TIMEOUT": "100", "DISKFERRY_POLL_SECONDS": "1",
                           "DISKFERRY_WATCHDOG_SECONDS": "30"})
    with pytest.raises(SettingsError, match="DISKFERRY_WATCHDOG_GRACE_SECONDS"):
        Settings.from_env({"DISKFERRY_WATCHDOG_GRACE_SECONDS": "-1"})


def test_copy_restarts_and_expected_copy_time() -> None:
    assert Settings.from_env({}).copy_restarts == 3
    assert Settings.from_env({"DISKFERRY_COPY_RESTARTS": "0"}).copy_restarts == 0
    with pytest.raises(SettingsError, match="DISKFERRY_COPY_RESTARTS"):
        Settings.from_env({"DISKFERRY_COPY_RESTARTS": "-1"})
    with pytest.raises(SettingsError, match="DISKFERRY_COPY_RESTARTS"):
        Settings.from_env({"DISKFERRY_COPY_RESTARTS": "1.5"})
    s = Settings.from_env({"DISKFERRY_SAS_BANDWIDTH": str(1024 * 1024)})
    assert s.sas.expected_seconds(10 * 1024**3) == 10240  # 10 GiB at 1 MiB/s, no margin


def test_a_default_subscription_that_is_not_a_guid_is_refused() -> None:
    with pytest.raises(SettingsError, match=re.escape("AZURE_SUBSCRIPTION_ID: 'prod/../x' is not a subscription id")):
        Settings.from_env({"AZURE_SUBSCRIPTION_ID": "prod/../x"})
    guid = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"
    assert Settings.from_env({"AZURE_SUBSCRIPTION_ID": guid}).azure.subscription_id == guid
def test_the_arm_budget_defaults_to_azures_buckets() -> None:
    budget = Settings.from_env({}).arm_budget
    assert budget == ArmBudget(TokenBucket(250, 25), TokenBucket(200, 10), TokenBucket(200, 10), enabled=True)
    s = Settings.from_env({"DISKFERRY_ARM_WRITES": "20/2", "DISKFERRY_ARM_PACING": "0"})
    assert s.arm_budget.writes == TokenBucket(20, 2) and s.arm_budget.enabled is False
    for bad in ("20", "20/0", "0/5", "x/1", "20/-1"):
        with pytest.raises(SettingsError, match="DISKFERRY_ARM_DELETES: expected SIZE/REFILL"):
            Settings.from_env({"DISKFERRY_ARM_DELETES": bad})
    with pytest.raises(SettingsError, match="DISKFERRY_ARM_PACING"):
        Settings.from_env({"DISKFERRY_ARM_PACING": "maybe"})
