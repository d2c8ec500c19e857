"""The clients' HTTP transport reads the environment's proxy settings only when it names some.

``requests`` looks up proxies (``NO_PROXY`` against the whole environment) at every call when
``trust_env`` is on; a worker with no proxy configured skips that. A proxy the environment
names is still honoured."""

from __future__ import annotations

import socket

import pytest

from diskferry.cloud import Cloud
from diskferry.config.settings import Settings
from diskferry.errors import DiskferryError
from tests.conftest import Clients


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_without_a_proxy_in_the_environment_the_clients_do_not_read_it(azure_env: dict[str, str]) -> None:
    settings = Settings.from_env({k: v for k, v in azure_env.items() if "proxy" not in k.lower()})
    assert settings.azure.env_network is False
    assert Settings.from_env(azure_env | {"no_proxy": "127.0.0.1"}).azure.env_network is True
    assert Settings.from_env(azure_env | {"HTTPS_PROXY": " "}).azure.env_network is False


def test_a_curl_ca_bundle_is_read_once_as_requests_would_read_it(azure_env: dict[str, str]) -> None:
    # Debian's images set CURL_CA_BUNDLE: it once made every call look up proxies
    given = {k: v for k, v in azure_env.items() if k != "REQUESTS_CA_BUNDLE"} | {"CURL_CA_BUNDLE": "/etc/curl.pem"}
    access = Settings.from_env(given).azure
    assert (access.env_network, access.ca_bundle) == (False, "/etc/curl.pem")
    # REQUESTS_CA_BUNDLE first, as requests looks
    both = Settings.from_env(azure_env | {"CURL_CA_BUNDLE": "/etc/curl.pem"}).azure
    assert both.ca_bundle == azure_env["REQUESTS_CA_BUNDLE"]


def test_a_proxy_the_environment_names_is_used_and_none_is_looked_up_otherwise(
        azure_env: dict[str, str], clients: Clients, rg: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    # clients made from settings that saw no proxy do not look at the process's environment
    quiet = Cloud(Settings.from_env(azure_env).azure)
    assert quiet.storage.resource_group_location(clients.subscription_id, rg) == "francecentral"
    cloud = Cloud(Settings.from_env(azure_env | {"HTTPS_PROXY": proxy}).azure)
    with pytest.raises(DiskferryError):
        cloud.storage.resource_group_location(clients.subscription_id, rg)  # through the dead proxy
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    cloud = Cloud(Settings.from_env(azure_env | {"HTTPS_PROXY": proxy, "NO_PROXY": "127.0.0.1,localhost"}).azure)
    assert cloud.storage.resource_group_location(clients.subscription_id, rg) == "francecentral"
