"""Resources held by the emulator: in memory for speed, written through to SQLite.

Every resource is a JSON document keyed by ``(kind, key)``; keys are lower-cased ARM ids
(Azure resource ids are case-insensitive) or, for blob-service objects, lower-cased paths.
Reads never touch SQLite, so GETs stay cheap with thousands of resources; writes commit at
once so that a killed emulator loses nothing it acknowledged.

Each kind also keeps its keys sorted, so that a list of one scope (``items(kind, prefix)``:
a resource group's disks, a container's blobs) costs O(log n + matches), not a sort of
every key of the kind.
"""

from __future__ import annotations

import bisect
import copy
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

Doc = dict[str, Any]

_UPSERT = "INSERT OR REPLACE INTO docs (kind, key, body) VALUES (?, ?, ?)"


class Store:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS docs (kind TEXT, key TEXT, body TEXT, PRIMARY KEY (kind, key))")
        self._docs: dict[str, dict[str, Doc]] = {}
        for kind, key, body in self._db.execute("SELECT kind, key, body FROM docs"):
            self._docs.setdefault(kind, {})[key] = json.loads(body)
        #: every kind's keys in order (kept beside the dicts; see ``items``)
        self._sorted: dict[str, list[str]] = {kind: sorted(docs) for kind, docs in self._docs.items()}

    def get(self, kind: str, key: str) -> Doc | None:
        """The stored document itself (mutate it, then ``put`` it back to persist)."""
        return self._docs.get(kind, {}).get(key.lower())

    def put(self, kind: str, key: str, doc: Doc) -> Doc:
        key = self._hold(kind, key, doc)
        self._db.execute(_UPSERT, (kind, key, json.dumps(doc)))
        return doc

    def put_many(self, kind: str, docs: Iterable[tuple[str, Doc]]) -> int:
        """``put`` each ``(key, doc)``, all in one SQLite transaction; how many were written.

        For periodic batches (the copy engine's progress): one commit instead of one per
        document.
        """
        rows = [(kind, self._hold(kind, key, doc), json.dumps(doc)) for key, doc in docs]
        if rows:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(_UPSERT, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return len(rows)

    def touch(self, kind: str, key: str) -> None:
        """Persist an in-place change to a document already held."""
        doc = self.get(kind, key)
        if doc is not None:
            self.put(kind, key, doc)

    def delete(self, kind: str, key: str) -> Doc | None:
        key = key.lower()
        doc = self._docs.get(kind, {}).pop(key, None)
        if doc is not None:
            keys = self._sorted[kind]
            del keys[bisect.bisect_left(keys, key)]
        self._db.execute("DELETE FROM docs WHERE kind = ? AND key = ?", (kind, key))
        return doc

    def items(self, kind: str, prefix: str = "") -> Iterator[tuple[str, Doc]]:
        """Documents of a kind whose key starts with ``prefix`` (case-insensitive), by key.

        The matching keys are taken when iteration starts: documents deleted meanwhile are
        skipped, documents added meanwhile are not seen.
        """
        prefix = prefix.lower()
        docs = self._docs.get(kind)
        if not docs:
            return
        keys = self._sorted[kind]
        start = end = bisect.bisect_left(keys, prefix)
        while end < len(keys) and keys[end].startswith(prefix):
            end += 1
        for key in keys[start:end]:
            doc = docs.get(key)
            if doc is not None:
                yield key, doc

    def values(self, kind: str, prefix: str = "") -> list[Doc]:
        return [doc for _, doc in self.items(kind, prefix)]

    def snapshot(self, kind: str, key: str) -> Doc | None:
        """A deep copy, for callers that must not alias stored state."""
        doc = self.get(kind, key)
        return copy.deepcopy(doc) if doc is not None else None

    def close(self) -> None:
        self._db.close()

    def _hold(self, kind: str, key: str, doc: Doc) -> str:
        """Keep ``doc`` in memory under the lower-cased ``key`` (returned), indexed."""
        key = key.lower()
        docs = self._docs.setdefault(kind, {})
        if key not in docs:
            bisect.insort(self._sorted.setdefault(kind, []), key)
        docs[key] = doc
        return key
