"""What every step needs, built once per worker process from the settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from diskferry.cloud import AccountInfo, Cloud
from diskferry.cloud.budget import Budget
from diskferry.config.settings import Settings
from diskferry.errors import ConnectionFailed, DiskFailed
from diskferry.model import DiskKey, SourceKey, StagingAccount, Target
from diskferry.state import JobStore
from diskferry.vault import Vault

#: a prepare holding the source lock longer than this is presumed dead
PREPARE_LOCK_SECONDS = 15 * 60


class StagingAccountGone(DiskFailed):
    """The target's staging account does not exist (deleted under the job): its disks fail, and
    there is nothing left in it to clean up."""


@dataclass
class Runtime:
    settings: Settings
    cloud: Cloud
    store: JobStore
    vault: Vault
    _accounts: dict[str, AccountInfo] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, cloud: Cloud | None = None) -> Runtime:
        client = redis.Redis.from_url(settings.state_url, decode_responses=True)
        budget = Budget(client, settings.arm_budget, settings.azure.identity.client_id or "default")
        return cls(
            settings=settings,
            cloud=cloud or Cloud(settings.azure, budget=budget),
            store=JobStore(client, settings.job_ttl_seconds),
            vault=Vault(client, settings.vault_key, settings.job_ttl_seconds),
        )

    def staging_account(self, target: Target, *, required: bool = True, fresh: bool = False) -> AccountInfo | None:
        """The target's staging account as it exists in Azure (cached per process unless
        ``fresh``: another worker may have deleted it since)."""
        staging = target.staging
        if staging is None:
            raise DiskFailed("NoStagingAccount", f"target {target.key} has no staging account")
        cached = None if fresh else self._accounts.get(staging.name)
        if cached is not None:
            return cached
        self._accounts.pop(staging.name, None)
        found = self.cloud.storage.get_account(target.subscription_id, staging.resource_group, staging.name)
        if found is None:
            if required:
                raise StagingAccountGone("StagingAccountNotFound", f"staging account {staging.name} does not exist")
            return None
        self._accounts[staging.name] = found
        return found

    @contextmanager
    def staging_calls(self, target: Target) -> Iterator[None]:
        """Blob calls to the target's staging account. In Azure an account's blob endpoint is a
        host name of its own, which stops resolving once the account is deleted: its calls fail
        to connect, exactly as in a network blip, and retried as one they would be retried
        until the job's stall guard (hours), with every copy into it unwatched. So a connection
        failure asks ARM, afresh, whether the account is still there: if it is not, raise
        :class:`StagingAccountGone`; if it is (or ARM cannot say), the failure stands and the
        step comes back later. One ARM read per failed call, and only then."""
        try:
            yield
        except ConnectionFailed:
            self.staging_account(target, fresh=True)
            raise

    def forget_account(self, staging: StagingAccount) -> None:
        self._accounts.pop(staging.name, None)


def sas_name(source: SourceKey, disk: DiskKey) -> str:
    """The vault entry of a source disk's read SAS."""
    return f"sas|{source}|{disk}"


def export_field(disk: DiskKey) -> str:
    """The source record's field describing how a disk is read (id, kind, grant, error)."""
    return f"export|{disk}"
