"""Page blobs: create, Put Page / Clear Page, page ranges, ranged reads, metadata, delete, listing."""

from __future__ import annotations

from tests.conformance import scenarios
from tests.conformance.test_containers import Conform


def test_page_blob_lifecycle(conform: Conform) -> None:
    conform(scenarios.page_blob_lifecycle)


def test_blob_not_found(conform: Conform) -> None:
    conform(scenarios.blob_not_found)


def test_list_blobs(conform: Conform) -> None:
    conform(scenarios.list_blobs)


def test_blob_names_that_need_escaping(conform: Conform) -> None:
    conform(scenarios.blob_names)
