"""What a worker checks before it takes any task: a worker that cannot do the work must not
start, because every task it took would fail the same way (and its cleanup too).

* the settings are valid (``Settings`` refuses bad values when read: ``SettingsError``);
* the vault key is set and is a Fernet key (``SettingsError``: the SAS of every copy goes
  through it);
* the broker, the result backend and the state Redis answer (``Unavailable``), and none of them
  evicts keys when full (``SettingsError``): see :func:`check_eviction`;
* the Azure credential gets a token for ARM within ``azure_timeout`` seconds
  (``Unavailable``); ``diskferry worker --skip-azure-check`` skips this one, for a worker
  started before its identity can sign in (a managed identity still being assigned).
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlsplit

import redis
from cryptography.fernet import Fernet

from diskferry.config.settings import Settings, SettingsError
from diskferry.errors import Unavailable, redact

log = logging.getLogger(__name__)

#: how long a worker waits for its first Azure token before refusing to start
AZURE_TIMEOUT_SECONDS = 30.0


def check_worker(settings: Settings, *, azure: bool = True, azure_timeout: float = AZURE_TIMEOUT_SECONDS) -> None:
    """Raise SettingsError or Unavailable, naming the problem, unless a worker can work."""
    check_vault_key(settings.vault_key)
    for name, url in (("DISKFERRY_BROKER_URL", settings.broker_url),
                      ("DISKFERRY_RESULT_BACKEND", settings.result_backend),
                      ("DISKFERRY_STATE_URL", settings.state_url)):
        check_redis(name, url)
    if azure:
        check_azure_token(settings, azure_timeout)


def check_vault_key(key: str | None) -> None:
    if not key:
        raise SettingsError("DISKFERRY_VAULT_KEY is not set: workers pass every SAS through the vault "
                            "(python -m diskferry.vault prints a new key; give every worker the same)")
    try:
        Fernet(key.encode())
    except ValueError:
        raise SettingsError("DISKFERRY_VAULT_KEY is not a Fernet key (32 url-safe base64-encoded bytes; "
                            "python -m diskferry.vault prints one)") from None


def check_redis(name: str, url: str) -> None:
    if urlsplit(url).scheme not in ("redis", "rediss", "unix", "redis+socket"):
        raise SettingsError(f"{name}: diskferry needs Redis, not {urlsplit(url).scheme or url!r}")
    client = redis.Redis.from_url(url.replace("redis+socket://", "unix://"), socket_connect_timeout=5,
                                  socket_timeout=5)
    try:
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            raise Unavailable("RedisUnavailable", f"{name}: {_where(url)} does not answer ({exc})") from None
        check_eviction(name, url, client)
    finally:
        client.close()


def check_eviction(name: str, url: str, client: redis.Redis) -> None:
    """Refuse a Redis that drops keys when it is full: a ``maxmemory`` with any policy but
    ``noeviction``. Every job record, queued task and chord counter of diskferry lives in Redis
    with a TTL, so ``volatile-*`` policies (Azure Cache for Redis defaults to ``volatile-lru``)
    evict them as readily as ``allkeys-*``: a job would lose its record, a copy its message, a
    chord its count, silently, under memory pressure. ``noeviction`` refuses writes instead,
    which diskferry's steps meet as errors and retry. A Redis without ``INFO`` (renamed away)
    cannot be checked, and is taken as it is."""
    try:
        memory: dict[str, Any] = client.info("memory")  # type: ignore[assignment] # a sync client
    except redis.ResponseError:
        log.warning("%s: %s does not answer INFO; cannot check its maxmemory-policy", name, _where(url))
        return
    limit, policy = int(memory.get("maxmemory") or 0), str(memory.get("maxmemory_policy") or "noeviction")
    if limit and policy != "noeviction":
        raise SettingsError(
            f"{name}: {_where(url)} evicts keys when full (maxmemory {limit / 2**20:.0f} MiB, maxmemory-policy "
            f"{policy}): jobs, queued tasks and their results could vanish mid-job. Set maxmemory-policy to "
            "noeviction (or maxmemory to 0)")


def check_azure_token(settings: Settings, timeout: float) -> None:
    """One token for ARM, in a thread: DefaultAzureCredential may probe for a long time."""
    from diskferry.cloud import auth

    result: list[BaseException | None] = []

    # azure-identity logs the failure it raises as a warning: the one line we print says it
    logging.getLogger("azure.identity").setLevel(logging.ERROR)

    def sign_in() -> None:
        try:
            auth.credential(settings.azure).get_token(settings.azure.arm_scope)
            result.append(None)
        except Exception as exc:  # noqa: BLE001 - any failure means: this worker cannot reach Azure
            result.append(exc)

    thread = threading.Thread(target=sign_in, name="azure-token-check", daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        raise Unavailable("AzureSignInTimeout", f"no Azure token within {timeout:.0f} s "
                          "(check the credentials, or start with --skip-azure-check)")
    if result[0] is not None:
        raise Unavailable("AzureSignInFailed", f"cannot get an Azure token: {redact(str(result[0]))}")


def _where(url: str) -> str:
    """A Redis URL without its password."""
    parts = urlsplit(url)
    host = parts.hostname or parts.path
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path if parts.hostname else ''}"
