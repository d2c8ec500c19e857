"""The credential and client options, from the settings."""

from __future__ import annotations

from typing import Any

from azure.core.credentials import TokenCredential
from azure.identity import ClientSecretCredential, DefaultAzureCredential

from diskferry.config.settings import Settings


def credential(settings: Settings) -> TokenCredential:
    """A service principal when one is configured, else DefaultAzureCredential."""
    ident = settings.identity
    options: dict[str, Any] = {}
    if settings.ca_bundle:
        options["connection_verify"] = settings.ca_bundle
    if ident.uses_client_secret:
        assert ident.tenant_id and ident.client_id and ident.client_secret
        if ident.authority_host:
            options["authority"] = ident.authority_host
        return ClientSecretCredential(
            ident.tenant_id, ident.client_id, ident.client_secret, disable_instance_discovery=True, **options
        )
    return DefaultAzureCredential(**options)


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for every management client: endpoint, scope, TLS trust."""
    options: dict[str, Any] = {
        "base_url": settings.arm_endpoint,
        "credential_scopes": [settings.arm_scope],
    }
    if settings.ca_bundle:
        options["connection_verify"] = settings.ca_bundle
    return options
