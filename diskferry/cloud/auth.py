"""The credential and client options, from how diskferry reaches Azure."""

from __future__ import annotations

from typing import Any

from azure.core.credentials import TokenCredential
from azure.identity import ClientSecretCredential, DefaultAzureCredential

from diskferry.config.settings import AzureAccess


def credential(azure: AzureAccess) -> TokenCredential:
    """A service principal when one is configured, else DefaultAzureCredential."""
    ident = azure.identity
    options = transport_options(azure)
    if ident.uses_client_secret:
        assert ident.tenant_id and ident.client_id and ident.client_secret
        if ident.authority_host:
            options["authority"] = ident.authority_host
        return ClientSecretCredential(
            ident.tenant_id, ident.client_id, ident.client_secret, disable_instance_discovery=True, **options
        )
    return DefaultAzureCredential(**options)


def client_options(azure: AzureAccess) -> dict[str, Any]:
    """Keyword arguments for every management client: endpoint, scope, TLS trust."""
    options: dict[str, Any] = {
        "base_url": azure.arm_endpoint,
        "credential_scopes": [azure.arm_scope],
    } | transport_options(azure)
    return options


def transport_options(azure: AzureAccess) -> dict[str, Any]:
    """Keyword arguments for the HTTP transport of every client (management and blob)."""
    options: dict[str, Any] = {"use_env_settings": azure.env_network}
    if azure.ca_bundle:
        options["connection_verify"] = azure.ca_bundle
    return options
