"""The source of a Copy Blob: a URL the emulator serves, resolved and (re)verified.

A source is a managed-disk export (``md-…`` pseudo account, checked by
``exports.open_export``) or a blob of a storage account (checked by its SAS, or by the
destination call's own authority when both are in one account). ``verify`` is called when
the copy starts — its errors become ``CannotVerifyCopySource`` — and a :class:`Recheck`
repeats it while the copy runs, so that an expired or revoked SAS or a deleted source makes
the copy fail as in Azure.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from diskferry.emulator import clock, exports
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError
from diskferry.emulator.pages import Content
from diskferry.emulator.storage import blobauth, model

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


class Recheck:
    """The verification of a running copy's source, repeated at every tick of the copy.

    A full ``verify`` recomputes the SAS signature (an HMAC) and, for an export, the VHD
    footer. Both depend only on the URL and on documents the check read: the export's
    grant and disk (or snapshot), or the storage account's keys and the blob. While those
    are the very same documents (the store replaces a document to change it, except for a
    key regeneration, which is compared by value) the only thing time can change is the
    SAS expiry, compared here with the parsed ``se``. Anything else — a revoked grant, a
    deleted container or blob, new keys, an expired SAS — runs the full ``verify``, which
    raises exactly what it raised before, at the same tick.
    """

    def __init__(self, source: CopySource) -> None:
        self.source = source
        self._result: tuple[Content, str, Doc | None] | None = None
        #: what the last full check read: (kind, key, document), compared by identity
        self._witnesses: list[tuple[str, str, Doc]] = []
        self._keys: list[str] = []
        self._data: str = ""
        self._expiry = _expiry(source)

    def verify(self, emu: Emulator) -> tuple[Content, str, Doc | None]:
        """``(content, region, source blob document or None)``; Azure's 403/404 otherwise."""
        if self._result is not None and self._unchanged(emu):
            return self._result
        self._result = None
        result = self.source.verify(emu)
        self._remember(emu, result)
        return result

    def _unchanged(self, emu: Emulator) -> bool:
        if clock.now() >= self._expiry:
            return False
        for kind, key, doc in self._witnesses:
            if emu.store.get(kind, key) is not doc:
                return False
        if str(self._witnesses[-1][2]["x"]["data"]) != self._data:
            return False
        return self.source.is_export or model.account_keys(self._witnesses[0][2]) == self._keys

    def _remember(self, emu: Emulator, result: tuple[Content, str, Doc | None]) -> None:
        src = self.source
        witnesses: list[tuple[str, str, Doc | None]] = []
        if src.is_export:
            grant = exports.find(emu, src.account)
            if grant is None:
                return
            witnesses.append((exports.KIND, src.account, emu.store.get(exports.KIND, src.account)))
            witnesses.append((grant.resource_kind, grant.resource_key, exports.resource_doc(emu, grant)))
        else:
            account = model.find_account(emu, src.account)
            if account is None:
                return
            witnesses.append((model.ACCOUNT_KIND, account["id"], account))
            ckey = model.container_key(src.account, src.container)
            witnesses.append((model.CONTAINER_KIND, ckey, emu.store.get(model.CONTAINER_KIND, ckey)))
            bkey = model.blob_key(src.account, src.container, src.blob)
            witnesses.append((model.BLOB_KIND, bkey, result[2]))
            self._keys = model.account_keys(account)
        if any(doc is None for _, _, doc in witnesses):
            return
        self._witnesses = [(kind, key, doc) for kind, key, doc in witnesses if doc is not None]
        self._data = str(self._witnesses[-1][2]["x"]["data"])
        self._result = result


def _expiry(source: CopySource) -> float:
    """When the source's SAS expires (never for a trusted source); ``-inf`` (check every
    time) when it names no readable expiry, which the full check then reports."""
    if source.trusted and not source.is_export:
        return math.inf
    try:
        return clock.parse_iso(unquote(source.query["se"]))
    except (KeyError, ValueError):
        return -math.inf


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
