"""SAS URLs between tasks: stored only encrypted, and only as long as the SAS itself lives.

``prepare`` grants one read SAS per source disk; the copy tasks of every target need it.
Task arguments, results and events are visible in Flower and the result backend, so the
SAS never travels there: it is encrypted with Fernet (AES-128-CBC + HMAC-SHA256, a key
from the settings) and stored in Redis with a TTL no longer than the SAS, under a name
derived from ids. It is deleted once every copy that needs it has ended.

``python -m diskferry.vault`` prints a new key for ``DISKFERRY_VAULT_KEY``.
"""

from __future__ import annotations

import time

import redis
from cryptography.fernet import Fernet, InvalidToken

from diskferry.errors import DiskFailed, JobFailed


class Vault:
    def __init__(self, client: redis.Redis, key: str | None) -> None:
        if not key:
            raise JobFailed("VaultKeyMissing", "DISKFERRY_VAULT_KEY is not set; workers need it")
        try:
            self._fernet = Fernet(key.encode())
        except ValueError:
            raise JobFailed("VaultKeyInvalid", "DISKFERRY_VAULT_KEY is not a Fernet key") from None
        self._r = client

    @staticmethod
    def _key(job_id: str, name: str) -> str:
        return f"diskferry:vault:{job_id}:{name}"

    def put(self, job_id: str, name: str, secret: str, expires_at: float) -> None:
        """Keep ``secret`` until ``expires_at`` (epoch seconds; the SAS expiry) at the latest."""
        ttl = int(expires_at - time.time())
        if ttl <= 0:
            raise DiskFailed("SasExpired", f"the SAS for {name} expired before it could be stored")
        token = self._fernet.encrypt(secret.encode())
        self._r.set(self._key(job_id, name), token, ex=ttl)

    def get(self, job_id: str, name: str) -> str | None:
        """The secret, or None once it expired or was deleted."""
        token = self._r.get(self._key(job_id, name))
        if token is None:
            return None
        raw = token.encode() if isinstance(token, str) else bytes(token)
        try:
            return self._fernet.decrypt(raw).decode()
        except InvalidToken:
            raise JobFailed("VaultKeyMismatch", f"the vault entry {name} was written with another key") from None

    def ttl(self, job_id: str, name: str) -> int | None:
        """Seconds the entry still lives (None when absent)."""
        ttl = int(self._r.ttl(self._key(job_id, name)))
        return ttl if ttl >= 0 else None

    def delete(self, job_id: str, name: str) -> None:
        self._r.delete(self._key(job_id, name))

    def names(self, job_id: str) -> list[str]:
        prefix = self._key(job_id, "")
        keys = self._r.scan_iter(match=prefix + "*")
        return sorted((k.decode() if isinstance(k, bytes) else str(k))[len(prefix) :] for k in keys)


def new_key() -> str:
    return Fernet.generate_key().decode()


if __name__ == "__main__":
    print(new_key())
