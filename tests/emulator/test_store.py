"""The store: lists by key prefix in key order, batched writes, and what survives a reopen."""

from __future__ import annotations

import random
from pathlib import Path

from diskferry.emulator.store import Store


def test_items_match_a_sorted_scan_through_puts_and_deletes(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    rng = random.Random(3)
    model: dict[str, int] = {}
    alphabet = "ab/c"
    for i in range(600):
        key = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 6)))
        if rng.random() < 0.3 and model:
            gone = rng.choice(sorted(model))
            store.delete("thing", gone.upper())
            del model[gone]
        else:
            store.put("thing", key.upper() if i % 2 else key, {"n": i})
            model[key] = i
        prefix = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 3)))
        expected = [(k, {"n": model[k]}) for k in sorted(model) if k.startswith(prefix)]
        assert list(store.items("thing", prefix.upper())) == expected
    assert store.values("nothing") == [] and store.delete("nothing", "x") is None
    store.close()


def test_items_skip_what_is_deleted_while_iterating(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    for k in ("a/1", "a/2", "a/3", "b/1"):
        store.put("thing", k, {"k": k})
    seen = []
    for key, _ in store.items("thing", "a/"):
        seen.append(key)
        store.delete("thing", "a/2")
        store.put("thing", "a/0", {"k": "a/0"})
    assert seen == ["a/1", "a/3"]
    assert [k for k, _ in store.items("thing", "a/")] == ["a/0", "a/1", "a/3"]


def test_put_many_writes_one_batch_that_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = Store(path)
    store.put("blob", "acct/c/old", {"v": 0})
    written = store.put_many("blob", [(f"Acct/C/b{i:03d}", {"v": i}) for i in range(100)])
    assert written == 100 and store.put_many("blob", []) == 0
    assert store.get("blob", "acct/c/b007") == {"v": 7}
    store.close()

    again = Store(path)
    assert len(again.values("blob", "ACCT/c/")) == 101
    assert [k for k, _ in again.items("blob", "acct/c/b09")] == [f"acct/c/b09{i}" for i in range(10)]
    again.delete("blob", "acct/c/old")
    assert again.get("blob", "acct/c/old") is None and len(again.values("blob")) == 100
    again.close()
