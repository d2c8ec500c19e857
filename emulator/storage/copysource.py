"""The source of a Copy Blob: a URL the emulator serves, resolved and (re)verified.

A source is a managed-disk export (``md-…`` pseudo account, checked by
``exports.open_export``) or a blob of a storage account (checked by its SAS, or by the
destination call's own authority when both are in one account). ``verify`` is called when
the copy starts — its errors become ``CannotVerifyCopySource`` — and again while the copy
runs, when an expired or revoked SAS or a deleted source makes the copy fail as in Azure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from emulator import exports
from emulator.context import Emulator
from emulator.errors import AzureError
from emulator.pages import Content
from emulator.storage import blobauth, model

Doc = dict[str, Any]


def _not_found(what: str = "resource") -> AzureError:
    code = "ResourceNotFound" if what == "resource" else "BlobNotFound"
    return AzureError(404, code, f"The specified {what} does not exist.")


@dataclass
class CopySource:
    account: str
    container: str
    blob: str
    #: the URL's query (the SAS, if any); kept in the destination's private ``x`` so that a
    #: restarted emulator can keep checking it
    query: dict[str, str] = field(default_factory=dict)
    #: the destination call's own authority covers the source (same account, no SAS)
    trusted: bool = False
    #: the URL exactly as the call gave it: what ``x-ms-copy-source`` reports, as Azure does
    #: (SAS included — callers must not log blob properties)
    url: str = ""

    @property
    def is_export(self) -> bool:
        return exports.is_export_account(self.account)

    def to_doc(self) -> Doc:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: Doc) -> CopySource:
        return cls(**doc)

    def verify(self, emu: Emulator) -> tuple[Content, str, Doc | None]:
        """``(content, region, source blob document or None)``; Azure's 403/404 otherwise."""
        if self.is_export:
            content = exports.open_export(emu, self.account, self.container, self.blob, self.query, "r")
            grant = exports.find(emu, self.account)
            resource = exports.resource_doc(emu, grant) if grant else None
            return content, str((resource or {}).get("location", "")).lower(), None
        account = model.find_account(emu, self.account)
        if account is None:
            raise _not_found()
        if not self.trusted:
            if not self.query.get("sig"):
                # a private blob of another account without a SAS is invisible
                raise _not_found()
            blobauth.check_sas(self.query, account["name"], model.account_keys(account), self.container, self.blob, "r")
        if emu.store.get(model.CONTAINER_KIND, model.container_key(self.account, self.container)) is None:
            raise AzureError(404, "ContainerNotFound", "The specified container does not exist.")
        doc = model.get_blob(emu, self.account, self.container, self.blob)
        if doc is None:
            raise _not_found("blob")
        return emu.pages(doc["x"]["data"]), account["location"], doc


def parse(emu: Emulator, url: str, dest_account: str, trusted_same_account: bool) -> CopySource:
    """The source named by ``x-ms-copy-source``; 404 ``CannotVerifyCopySource`` when not ours."""
    parts = urlsplit(url)
    base = urlsplit(emu.blob_url)
    segments = parts.path.lstrip("/").split("/", 2)
    if parts.netloc.lower() != base.netloc.lower() or len(segments) != 3 or not all(segments):
        raise cannot_verify(_not_found())
    account = segments[0].lower()
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    trusted = trusted_same_account and account == dest_account.lower() and "sig" not in query
    return CopySource(account, unquote(segments[1]), unquote(segments[2]), query, trusted, url)


def cannot_verify(err: AzureError) -> AzureError:
    """How Copy Blob reports a source it cannot read (status of the source's answer)."""
    return AzureError(
        err.status,
        "CannotVerifyCopySource",
        err.message,
        headers={"x-ms-copy-source-status-code": str(err.status), "x-ms-copy-source-error-code": err.code},
    )


def failure_description(err: AzureError) -> str:
    """``x-ms-copy-status-description`` of a copy that failed on its source."""
    return f'{err.status} {err.code} "Copy failed when reading the source. {err.message}"'
