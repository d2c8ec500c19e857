"""The service principal of an ``azure.env``: what the emulator's own SDK clients (the seeders) sign in with."""

from __future__ import annotations

from typing import Any

from azure.identity import ClientSecretCredential

ARM_SCOPE = "https://management.azure.com/.default"


def env_credential(env: dict[str, str]) -> tuple[ClientSecretCredential, dict[str, Any]]:
    """The service principal of an ``azure.env``, and the TLS options its clients need."""
    ca = env.get("REQUESTS_CA_BUNDLE")
    verify: dict[str, Any] = {"connection_verify": ca} if ca else {}
    credential = ClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
        **verify,
    )
    return credential, verify
