"""State lives in the state dir and survives a restart, pending operations included."""

from __future__ import annotations

import os
from pathlib import Path

from azure.identity import ClientSecretCredential

from emulator.testing import EmulatorProcess
from tests.conftest import make_clients


def _clients(proc: EmulatorProcess):  # type: ignore[no-untyped-def]
    os.environ["REQUESTS_CA_BUNDLE"] = proc.env["REQUESTS_CA_BUNDLE"]
    cred = ClientSecretCredential(
        proc.env["AZURE_TENANT_ID"],
        proc.env["AZURE_CLIENT_ID"],
        proc.env["AZURE_CLIENT_SECRET"],
        authority=proc.env["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
    )
    return make_clients(cred, proc.env)


def test_restart_keeps_identity_resources_and_finishes_pending_operations(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE")
    try:
        with EmulatorProcess(state) as first:
            c = _clients(first)
            c.resource.resource_groups.create_or_update("Keep", {"location": "francecentral", "tags": {"a": "1"}})
            c.resource.resource_groups.create_or_update("Doomed", {"location": "francecentral"})
            first.admin().set(lro_latency=2)
            c.resource.resource_groups.begin_delete("Doomed")  # left in progress
            env_before = dict(first.env)
        with EmulatorProcess(state) as second:
            assert second.env["AZURE_CLIENT_SECRET"] == env_before["AZURE_CLIENT_SECRET"]
            assert second.env["AZURE_SUBSCRIPTION_ID"] == env_before["AZURE_SUBSCRIPTION_ID"]
            c = _clients(second)
            assert c.resource.resource_groups.get("Keep").tags == {"a": "1"}
            assert second.admin().settings()["lro_latency"] == 2
            import time

            deadline = time.monotonic() + 10
            while c.resource.resource_groups.check_existence("Doomed") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not c.resource.resource_groups.check_existence("Doomed")
    finally:
        if ca_bundle is not None:
            os.environ["REQUESTS_CA_BUNDLE"] = ca_bundle
