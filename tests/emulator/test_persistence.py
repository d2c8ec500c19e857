"""State lives in the state dir and survives a restart, pending operations included."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from diskferry.emulator.testing import EmulatorProcess
from tests.conftest import clients_for
from tests.waiting import wait_until


def test_restart_keeps_identity_resources_and_finishes_pending_operations(
    tmp_path: Path, spawn_emulator: Callable[[Path], EmulatorProcess]
) -> None:
    state = tmp_path / "state"
    with spawn_emulator(state) as first:
        c = clients_for(first)
        c.resource.resource_groups.create_or_update("Keep", {"location": "francecentral", "tags": {"a": "1"}})
        c.resource.resource_groups.create_or_update("Doomed", {"location": "francecentral"})
        first.admin().set(lro_latency=2)
        c.resource.resource_groups.begin_delete("Doomed")  # left in progress
        env_before = dict(first.env)
    with spawn_emulator(state) as second:
        assert second.env["AZURE_CLIENT_SECRET"] == env_before["AZURE_CLIENT_SECRET"]
        assert second.env["AZURE_SUBSCRIPTION_ID"] == env_before["AZURE_SUBSCRIPTION_ID"]
        c = clients_for(second)
        assert c.resource.resource_groups.get("Keep").tags == {"a": "1"}
        assert second.admin().settings()["lro_latency"] == 2
        wait_until(lambda: not c.resource.resource_groups.check_existence("Doomed"), 10,
                   "the delete left in progress did not finish after the restart", interval=0.2)
