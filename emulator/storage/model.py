"""How storage accounts, containers and blobs are kept in the store, and their content files.

Store kinds and keys (the store lower-cases every key):

* ``storageaccount``: key = lower-cased ARM id; an ARM resource document with the
  emulator's private ``x`` = ``{"keys": [key1, key2], "created": ts}``.
* ``container``: key = ``{account}/{container}`` (both lower-case names in Azure).
* ``blob``: key = ``{account}/{container}/{escaped blob name}``. Blob names are
  case-sensitive in Azure while store keys are not, so :func:`escape` spells every
  character that lower-casing would change (and ``^`` itself) as ``^{hex code point};``.
  The escaping is per character, so a name prefix maps to a key prefix (List Blobs
  ``prefix=`` stays a key-prefix scan), and the real name is kept in the document.

A blob document::

    {"account", "container", "name", "account_id", "location",
     "blob_type": "PageBlob" | "BlockBlob",
     "properties": {"created", "last_modified", "etag", "content_length", "content_type",
                    "content_encoding", "content_language", "content_disposition",
                    "cache_control", "content_md5", "sequence_number"},
     "metadata": {name: value},
     "copy": None | {"id", "status", "source", "progress", "copied", "total",
                     "completion_time", "status_description", "started"},
     "tags": the account's tags at creation (for the audit),
     "x": {"data": PageFile id}}

Content lives in an :class:`emulator.pages.PageFile` whose id is ``x.data``, always
reached through ``emu.pages(id)`` (one shared instance per file).
"""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from typing import Any

from diskferry.emulator import clock
from diskferry.emulator.context import Emulator

Doc = dict[str, Any]

ACCOUNT_KIND = "storageaccount"
CONTAINER_KIND = "container"
BLOB_KIND = "blob"

ACCOUNT_TYPE = "Microsoft.Storage/storageAccounts"
ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")


def escape(name: str) -> str:
    """A spelling of ``name`` that survives lower-casing and keeps prefixes (see above)."""
    out = []
    for ch in name:
        if ch == "^" or ch.lower() != ch:
            out.append(f"^{ord(ch):x};")
        else:
            out.append(ch)
    return "".join(out)


def container_key(account: str, container: str) -> str:
    return f"{account}/{container}"


def blob_key(account: str, container: str, name: str) -> str:
    return f"{account}/{container}/{escape(name)}"


def blob_prefix(account: str, container: str, name_prefix: str = "") -> str:
    return f"{account}/{container}/{escape(name_prefix)}"


# ---------------------------------------------------------------------------------------
# accounts


def find_account(emu: Emulator, name: str) -> Doc | None:
    """The account document named ``name`` (names are global), or None.

    A name → key index is kept in memory and re-checked against the store, so documents
    written by other means (seeding) are still found.
    """
    index = emu.account_index
    name = name.lower()
    key = index.get(name)
    if key is not None:
        doc = emu.store.get(ACCOUNT_KIND, key)
        if doc is not None and doc["name"].lower() == name:
            return doc
        index.pop(name, None)
    for key, doc in emu.store.items(ACCOUNT_KIND):
        index[doc["name"].lower()] = key
        if doc["name"].lower() == name:
            return doc
    return None


def account_keys(doc: Doc) -> list[str]:
    return list(doc["x"]["keys"])


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode()


# ---------------------------------------------------------------------------------------
# blobs and their content


def new_etag() -> str:
    return f'"0x{uuid.uuid4().hex[:15].upper()}"'


def get_blob(emu: Emulator, account: str, container: str, name: str) -> Doc | None:
    doc = emu.store.get(BLOB_KIND, blob_key(account, container, name))
    # the escaped key is exact, but guard against a foreign writer's lower-cased key
    if doc is not None and doc["name"] != name:
        return None
    return doc


def put_blob(emu: Emulator, doc: Doc) -> Doc:
    return emu.store.put(BLOB_KIND, blob_key(doc["account"], doc["container"], doc["name"]), doc)


def touch(doc: Doc) -> None:
    """Mark a blob (or container) changed: new ETag and Last-Modified."""
    props = doc["properties"]
    props["etag"] = new_etag()
    props["last_modified"] = clock.now()


def delete_blob_doc(emu: Emulator, doc: Doc) -> None:
    """Delete a blob and its content; any copy writing into it is cancelled."""
    if emu.copies is not None:
        emu.copies.forget(doc)
    emu.store.delete(BLOB_KIND, blob_key(doc["account"], doc["container"], doc["name"]))
    emu.drop_pages(doc["x"]["data"])


def delete_account_data(emu: Emulator, account: str) -> None:
    """Delete every container and blob of ``account`` (when the account is deleted)."""
    for doc in list(emu.store.values(BLOB_KIND, f"{account}/")):
        if doc["account"].lower() == account.lower():
            delete_blob_doc(emu, doc)
    for key, doc in list(emu.store.items(CONTAINER_KIND, f"{account}/")):
        if doc["account"].lower() == account.lower():
            emu.store.delete(CONTAINER_KIND, key)
