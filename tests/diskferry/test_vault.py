from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from diskferry.errors import DiskFailed, JobFailed
from diskferry.vault import Vault, new_key

SAS = "https://127.0.0.1:1/md-abc/abcd?sv=2021-08-06&sr=b&sig=SECRETSIGNATURE&se=2030-01-01"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def test_roundtrip_is_encrypted_at_rest(client: redis.Redis) -> None:
    vault = Vault(client, new_key())
    vault.put("vjob1", "sas:src:os", SAS, time.time() + 3600)
    assert vault.get("vjob1", "sas:src:os") == SAS
    stored = client.get("diskferry:vault:vjob1:sas:src:os")
    assert stored is not None
    assert b"SECRETSIGNATURE" not in stored and b"127.0.0.1" not in stored
    assert vault.names("vjob1") == ["sas:src:os"]
    vault.delete("vjob1", "sas:src:os")
    assert vault.get("vjob1", "sas:src:os") is None


def test_ttl_never_outlives_the_sas(client: redis.Redis) -> None:
    vault = Vault(client, new_key())
    vault.put("vjob2", "sas", SAS, time.time() + 120)
    ttl = vault.ttl("vjob2", "sas")
    assert ttl is not None and 110 <= ttl <= 120
    with pytest.raises(DiskFailed, match="SasExpired"):
        vault.put("vjob2", "old", SAS, time.time() - 1)
    vault.delete("vjob2", "sas")


def test_entry_expires(client: redis.Redis) -> None:
    vault = Vault(client, new_key())
    vault.put("vjob3", "sas", SAS, time.time() + 1.5)
    time.sleep(1.6)
    assert vault.get("vjob3", "sas") is None


def test_key_is_required_and_checked(client: redis.Redis) -> None:
    with pytest.raises(JobFailed, match="VaultKeyMissing"):
        Vault(client, None)
    with pytest.raises(JobFailed, match="VaultKeyInvalid"):
        Vault(client, "not-a-key")
    Vault(client, new_key()).put("vjob4", "sas", SAS, time.time() + 60)
    with pytest.raises(JobFailed, match="VaultKeyMismatch"):
        Vault(client, new_key()).get("vjob4", "sas")
    client.delete("diskferry:vault:vjob4:sas")
