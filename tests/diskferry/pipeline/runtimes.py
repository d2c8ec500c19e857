"""A worker's runtime inside the test process: the steps run in-process against the local
Azure and Redis, so a test can act between two calls of a step (a revocation, a fault)."""

from __future__ import annotations

from diskferry.config.settings import Settings
from diskferry.emulator.testing import EmulatorProcess
from diskferry.pipeline.runtime import Runtime
from diskferry.vault import new_key


def runtime_for(emulator: EmulatorProcess, redis_url: str, **env: str) -> Runtime:
    """A runtime with the emulator's credentials, ``redis_url`` for everything, and ``env``."""
    return Runtime.from_settings(Settings.from_env(
        {**emulator.env, "DISKFERRY_BROKER_URL": redis_url, "DISKFERRY_VAULT_KEY": new_key(), **env}
    ))
