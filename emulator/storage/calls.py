"""What a blob handler receives and how a route names it: the vocabulary shared by the
blob service's dispatcher and its handlers (containers, blobs, copies, disk exports).

It sits below both, so a handler never imports the dispatcher that calls it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy, MultiMapping

from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError
from diskferry.emulator.storage import model

Doc = dict[str, Any]


@dataclass
class BlobCall:
    """One routed blob call."""

    request: web.Request
    emu: Emulator
    op: str
    account: str
    container: str | None
    blob: str | None
    #: the storage account document (None for export accounts)
    account_doc: Doc | None
    principal: str = ""
    #: headers every answer carries (request id, version); a handler that streams its
    #: answer sends them itself
    common: dict[str, str] = field(default_factory=dict)

    @property
    def query(self) -> MultiMapping[str]:
        return self.request.query

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self.request.headers

    @property
    def endpoint(self) -> str:
        return f"{self.emu.blob_url}/{self.account}/"

    def container_doc(self) -> Doc:
        assert self.container is not None
        doc = self.emu.store.get(model.CONTAINER_KIND, model.container_key(self.account, self.container))
        if doc is None:
            raise AzureError(404, "ContainerNotFound", "The specified container does not exist.")
        return doc

    def blob_doc(self) -> Doc:
        """The blob's document (its container checked first, as Azure reports)."""
        assert self.container is not None and self.blob is not None
        doc = model.get_blob(self.emu, self.account, self.container, self.blob)
        if doc is None:
            self.container_doc()
            raise AzureError(404, "BlobNotFound", "The specified blob does not exist.")
        return doc


Handler = Callable[[BlobCall], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    op: str
    handler: Handler
    #: the SAS permission letter the call needs
    permission: str
