"""Resources held by the emulator: in memory for speed, written through to SQLite.

Every resource is a JSON document keyed by ``(kind, key)``; keys are lower-cased ARM ids
(Azure resource ids are case-insensitive) or, for blob-service objects, lower-cased paths.
Reads never touch SQLite, so GETs stay cheap with thousands of resources; writes commit at
once so that a killed emulator loses nothing it acknowledged.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Doc = dict[str, Any]


class Store:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS docs (kind TEXT, key TEXT, body TEXT, PRIMARY KEY (kind, key))")
        self._docs: dict[str, dict[str, Doc]] = {}
        for kind, key, body in self._db.execute("SELECT kind, key, body FROM docs"):
            self._docs.setdefault(kind, {})[key] = json.loads(body)

    def get(self, kind: str, key: str) -> Doc | None:
        """The stored document itself (mutate it, then ``put`` it back to persist)."""
        return self._docs.get(kind, {}).get(key.lower())

    def put(self, kind: str, key: str, doc: Doc) -> Doc:
        key = key.lower()
        self._docs.setdefault(kind, {})[key] = doc
        self._db.execute(
            "INSERT OR REPLACE INTO docs (kind, key, body) VALUES (?, ?, ?)",
            (kind, key, json.dumps(doc)),
        )
        return doc

    def touch(self, kind: str, key: str) -> None:
        """Persist an in-place change to a document already held."""
        doc = self.get(kind, key)
        if doc is not None:
            self.put(kind, key, doc)

    def delete(self, kind: str, key: str) -> Doc | None:
        key = key.lower()
        doc = self._docs.get(kind, {}).pop(key, None)
        self._db.execute("DELETE FROM docs WHERE kind = ? AND key = ?", (kind, key))
        return doc

    def items(self, kind: str, prefix: str = "") -> Iterator[tuple[str, Doc]]:
        """Documents of a kind whose key starts with ``prefix`` (case-insensitive), by key."""
        prefix = prefix.lower()
        docs = self._docs.get(kind, {})
        for key in sorted(docs):
            if key.startswith(prefix):
                yield key, docs[key]

    def values(self, kind: str, prefix: str = "") -> list[Doc]:
        return [doc for _, doc in self.items(kind, prefix)]

    def snapshot(self, kind: str, key: str) -> Doc | None:
        """A deep copy, for callers that must not alias stored state."""
        doc = self.get(kind, key)
        return copy.deepcopy(doc) if doc is not None else None

    def close(self) -> None:
        self._db.close()
