"""The two blob services under test, reached the same way: path-style URLs and account keys.

A :class:`Backend` hands out ``azure-storage-blob`` clients with SDK retries off, so that
an answer is observed exactly as the service gave it (a 5xx is not retried into a pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.storage.blob import BlobClient, BlobProperties, BlobServiceClient, ContainerClient

from tests.conformance.azurite import Account
from tests.waiting import wait_until

#: how long a copy may stay pending in a conformance scenario (blobs here are a few MiB)
COPY_SETTLE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Backend:
    """One blob service: ``azurite`` (the oracle) or ``emulator`` (diskferry's local Azure)."""

    name: str
    #: path-style account URLs, ``http(s)://127.0.0.1:P/{account}``, no trailing slash
    account_urls: tuple[str, str]
    accounts: tuple[Account, Account]
    #: CA bundle for HTTPS (the emulator), or True
    verify: str | bool = True

    def client_kwargs(self) -> dict[str, Any]:
        return {"retry_total": 0, "connection_verify": self.verify}

    def service(self, index: int = 0) -> BlobServiceClient:
        return BlobServiceClient(self.account_urls[index], credential=self.accounts[index].key, **self.client_kwargs())

    def container(self, name: str, index: int = 0) -> ContainerClient:
        return self.service(index).get_container_client(name)

    def blob(self, container: str, blob: str, index: int = 0) -> BlobClient:
        return self.service(index).get_blob_client(container, blob)

    def blob_url(self, container: str, blob: str, index: int = 0) -> str:
        return f"{self.account_urls[index]}/{container}/{blob}"

    def blob_from_url(self, url: str, credential: str | None = None) -> BlobClient:
        """A client on a full (SAS) URL, as diskferry gets one from a grant."""
        return BlobClient.from_blob_url(url, credential=credential, **self.client_kwargs())

    def settle_copy(self, blob: BlobClient, timeout: float = COPY_SETTLE_TIMEOUT) -> tuple[BlobProperties, list[str]]:
        """Poll Get Blob Properties until the copy is no longer pending.

        Returns the final properties and every progress value seen while pending (Azurite
        finishes copies at once, the emulator copies in the background; the timing is the
        one thing the conformance tests do not compare).
        """
        seen: list[str] = []

        def ended() -> BlobProperties | None:
            props = blob.get_blob_properties()
            if props.copy.status != "pending":
                return props
            seen.append(str(props.copy.progress))
            return None

        final = wait_until(ended, timeout, lambda: f"{self.name}: copy still pending after {timeout}s (progress "
                           f"{seen[-1] if seen else None})")
        return final, seen
