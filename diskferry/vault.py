"""SAS URLs between tasks: stored only encrypted, and only as long as the SAS itself lives.

``prepare`` grants one read SAS per source disk; the copy tasks of every target need it.
Task arguments, results and events are visible in Flower and the result backend, so the
SAS never travels there: it is encrypted with Fernet (AES-128-CBC + HMAC-SHA256, a key
from the settings) and stored in Redis with a TTL no longer than the SAS, under a name
derived from ids. It is deleted once every copy that needs it has ended.

Entries are **versioned**. A new grant on a disk replaces (revokes) its previous SAS, so
each ``put`` under a name gets the next *generation* (1, 2, ...) from a counter that
outlives the entry itself. A copy remembers the generation it started with; when its
source can no longer be read, a higher generation in the vault means another worker has
already granted again, and the copy just restarts with it.

Layout (``J`` = job id, ``N`` = entry name):

* ``diskferry:vault:J:N`` — a hash ``token`` (Fernet), ``generation``, ``granted``,
  ``expires`` (epoch seconds), expiring with the SAS;
* ``diskferry:vault-generation:J:N`` — the last generation handed out (not secret),
  expiring with the job record.

``python -m diskferry.vault`` prints a new key for ``DISKFERRY_VAULT_KEY``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, cast

import redis
from cryptography.fernet import Fernet, InvalidToken

from diskferry.errors import DiskFailed, JobFailed

#: how long a generation counter outlives its last entry unless told otherwise (14 days)
DEFAULT_GENERATION_TTL = 14 * 24 * 3600

# KEYS: entry, counter · ARGV: token, granted, expires, entry ttl (ms), counter ttl (s)
_PUT = """
local gen = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'generation', gen, 'granted', ARGV[2], 'expires', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return gen
"""


@dataclass(frozen=True)
class VaultEntry:
    """One stored secret and what is known about it (``repr`` hides the secret)."""

    secret: str = field(repr=False)
    #: 1 for the first ``put`` under a name, then 2, 3, ...
    generation: int
    #: epoch seconds: when the SAS was asked for, and when it stops working
    granted_at: float
    expires_at: float

    @property
    def lifetime(self) -> float:
        """Seconds the SAS was granted for (Azure may give less than was asked)."""
        return self.expires_at - self.granted_at

    def seconds_left(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Vault:
    def __init__(self, client: redis.Redis, key: str | None, generation_ttl: int = DEFAULT_GENERATION_TTL) -> None:
        # a bad key fails what needs the key (a grant, a copy), as a JobFailed the job records
        # with its reason, not the worker's every task (cleanups included) at start-up
        self._fernet: Fernet | None = None
        self._key_error: JobFailed | None = None
        if not key:
            self._key_error = JobFailed("VaultKeyMissing", "DISKFERRY_VAULT_KEY is not set on this worker")
        else:
            try:
                self._fernet = Fernet(key.encode())
            except ValueError:
                self._key_error = JobFailed("VaultKeyInvalid", "DISKFERRY_VAULT_KEY on this worker is not a Fernet key")
        self._r = client
        self._generation_ttl = generation_ttl
        self._put = client.register_script(_PUT)

    @property
    def fernet(self) -> Fernet:
        if self._fernet is None:
            assert self._key_error is not None
            raise self._key_error
        return self._fernet

    @staticmethod
    def _key(job_id: str, name: str) -> str:
        return f"diskferry:vault:{job_id}:{name}"

    @staticmethod
    def _counter(job_id: str, name: str) -> str:
        return f"diskferry:vault-generation:{job_id}:{name}"

    def put(self, job_id: str, name: str, secret: str, expires_at: float,
            granted_at: float | None = None) -> VaultEntry:
        """Keep ``secret`` until ``expires_at`` (epoch seconds; the SAS expiry) at the latest,
        as the name's next generation (which replaces the previous one)."""
        now = time.time()
        ttl_ms = int((expires_at - now) * 1000)
        if ttl_ms <= 0:
            raise DiskFailed("SasExpired", f"the SAS for {name} expired before it could be stored")
        granted = now if granted_at is None else granted_at
        token = self.fernet.encrypt(secret.encode()).decode()
        generation = int(
            self._put(
                keys=[self._key(job_id, name), self._counter(job_id, name)],
                args=[token, repr(granted), repr(expires_at), ttl_ms, self._generation_ttl],
            )
        )
        return VaultEntry(secret, generation, granted, expires_at)

    def entry(self, job_id: str, name: str) -> VaultEntry | None:
        """The current generation, or None once it expired or was deleted."""
        raw = cast(dict[Any, Any], self._r.hgetall(self._key(job_id, name)))
        doc = {_text(k): _text(v) for k, v in raw.items()}
        if "token" not in doc:
            return None
        try:
            secret = self.fernet.decrypt(doc["token"].encode()).decode()
        except InvalidToken:
            raise JobFailed("VaultKeyMismatch", f"the vault entry {name} was written with another key") from None
        return VaultEntry(secret, int(doc["generation"]), float(doc["granted"]), float(doc["expires"]))

    def get(self, job_id: str, name: str) -> str | None:
        """The secret, or None once it expired or was deleted."""
        found = self.entry(job_id, name)
        return None if found is None else found.secret

    def generation(self, job_id: str, name: str) -> int:
        """The last generation handed out under ``name`` (0: none yet), even once it expired."""
        raw = self._r.get(self._counter(job_id, name))
        return int(_text(raw)) if raw is not None else 0

    def ttl(self, job_id: str, name: str) -> int | None:
        """Seconds the entry still lives (None when absent)."""
        ttl = int(cast(int, self._r.ttl(self._key(job_id, name))))
        return ttl if ttl >= 0 else None

    def delete(self, job_id: str, name: str) -> None:
        """Forget the entry and its generations."""
        self._r.delete(self._key(job_id, name), self._counter(job_id, name))

    def names(self, job_id: str) -> list[str]:
        """Names of the job's entries and of its generation counters: empty once it is clean."""
        found = set()
        for prefix in (self._key(job_id, ""), self._counter(job_id, "")):
            for k in self._r.scan_iter(match=prefix + "*"):
                found.add(_text(k)[len(prefix) :])
        return sorted(found)


def new_key() -> str:
    return Fernet.generate_key().decode()


if __name__ == "__main__":
    print(new_key())
