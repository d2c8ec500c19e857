from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis

from diskferry.errors import DiskFailed, JobFailed
from diskferry.vault import Vault, new_key
from tests.waiting import wait_until

SAS = "https://127.0.0.1:1/md-abc/abcd?sv=2021-08-06&sr=b&sig=SECRETSIGNATURE&se=2030-01-01"
OTHER = "https://127.0.0.1:1/md-def/abcd?sv=2021-08-06&sr=b&sig=OTHERSIGNATURE&se=2030-01-01"


@pytest.fixture
def client(redis_db: Callable[[], str]) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_db())
    yield c
    c.close()


def test_roundtrip_is_encrypted_at_rest(client: redis.Redis) -> None:
    vault = Vault(client, new_key())
    vault.put("vjob1", "sas:src:os", SAS, time.time() + 3600)
    assert vault.get("vjob1", "sas:src:os") == SAS
    stored = client.hgetall("diskferry:vault:vjob1:sas:src:os")
    assert stored
    raw = b"".join(k + v for k, v in stored.items())
    assert b"SECRETSIGNATURE" not in raw and b"127.0.0.1" not in raw
    assert vault.names("vjob1") == ["sas:src:os"]
    vault.delete("vjob1", "sas:src:os")
    assert vault.get("vjob1", "sas:src:os") is None
    assert vault.names("vjob1") == []


def test_ttl_never_outlives_the_sas(client: redis.Redis) -> None:
    vault = Vault(client, new_key())
    vault.put("vjob2", "sas", SAS, time.time() + 120)
    ttl = vault.ttl("vjob2", "sas")
    assert ttl is not None and 110 <= ttl <= 120
    with pytest.raises(DiskFailed, match="SasExpired"):
        vault.put("vjob2", "old", SAS, time.time() - 1)
    vault.delete("vjob2", "sas")
    vault.delete("vjob2", "old")


def test_entry_expires(client: redis.Redis) -> None:
    vault = Vault(client, new_key())
    vault.put("vjob3", "sas", SAS, time.time() + 1.5)
    assert vault.get("vjob3", "sas") == SAS
    wait_until(lambda: vault.get("vjob3", "sas") is None, 10, "the entry outlived its SAS by 8 s")
    vault.delete("vjob3", "sas")


def test_key_is_required_and_checked(client: redis.Redis) -> None:
    # what needs the key fails, naming it; what does not (a cleanup's delete) still works
    with pytest.raises(JobFailed, match="VaultKeyMissing"):
        Vault(client, None).put("vjob4", "sas", SAS, time.time() + 60)
    with pytest.raises(JobFailed, match="VaultKeyInvalid"):
        Vault(client, "not-a-key").put("vjob4", "sas", SAS, time.time() + 60)
    Vault(client, None).delete("vjob4", "sas")
    Vault(client, new_key()).put("vjob4", "sas", SAS, time.time() + 60)
    with pytest.raises(JobFailed, match="VaultKeyMismatch"):
        Vault(client, new_key()).get("vjob4", "sas")
    Vault(client, new_key()).delete("vjob4", "sas")


def test_each_put_is_the_next_generation(client: redis.Redis) -> None:
    vault = Vault(client, new_key())
    assert vault.generation("vjob5", "sas") == 0
    granted = time.time()
    first = vault.put("vjob5", "sas", SAS, granted + 60, granted_at=granted)
    assert (first.generation, first.secret) == (1, SAS)
    assert first.lifetime == pytest.approx(60)
    second = vault.put("vjob5", "sas", OTHER, time.time() + 30)
    assert second.generation == 2
    found = vault.entry("vjob5", "sas")
    assert found is not None
    assert (found.generation, found.secret) == (2, OTHER)  # the newer grant replaced the older
    assert found.expires_at == pytest.approx(second.expires_at)
    assert 29 < found.seconds_left() <= 30
    # another name counts on its own
    assert vault.put("vjob5", "sas2", SAS, time.time() + 60).generation == 1
    vault.delete("vjob5", "sas")
    vault.delete("vjob5", "sas2")


def test_generations_outlive_an_expired_entry(client: redis.Redis) -> None:
    """A copy that used generation 1 must recognise a grant made after the entry expired as
    newer, so the counter survives the entry; deleting the entry forgets both."""
    vault = Vault(client, new_key(), generation_ttl=60)
    vault.put("vjob6", "sas", SAS, time.time() + 1.0)
    wait_until(lambda: vault.entry("vjob6", "sas") is None, 10, "the entry outlived its SAS by 9 s")
    assert vault.generation("vjob6", "sas") == 1
    assert vault.names("vjob6") == ["sas"]  # the counter is still there: cleanup must delete it
    assert vault.put("vjob6", "sas", OTHER, time.time() + 60).generation == 2
    counter_ttl = client.ttl("diskferry:vault-generation:vjob6:sas")
    assert 0 < counter_ttl <= 60
    vault.delete("vjob6", "sas")
    assert vault.generation("vjob6", "sas") == 0
    assert vault.names("vjob6") == []


def test_an_entry_never_shows_its_secret(client: redis.Redis) -> None:
    entry = Vault(client, new_key()).put("vjob7", "sas", SAS, time.time() + 60)
    assert "SECRETSIGNATURE" not in repr(entry) and "SECRETSIGNATURE" not in str(entry)
    Vault(client, new_key()).delete("vjob7", "sas")
