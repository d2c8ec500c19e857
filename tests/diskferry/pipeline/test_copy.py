"""How a failed copy is read: a source that could not be read is worth a fresh SAS."""

from __future__ import annotations

import pytest

from diskferry.pipeline.copy import source_unreadable


@pytest.mark.parametrize(
    ("description", "unreadable"),
    [
        ('403 AuthorizationFailure "Copy failed when reading the source. Signature not valid in the specified '
         'time frame."', True),
        ('403 AuthenticationFailed "Copy failed when reading the source. The SAS was revoked or never existed."', True),
        ('404 BlobNotFound "Copy failed when reading the source. The specified blob does not exist."', True),
        ('403 CannotVerifyCopySource "This request is not authorized to perform this operation."', True),
        ('500 InternalError "Copy failed."', False),
        ('412 ConditionNotMet "The source blob was modified during the copy."', False),
        (None, False),
        ("", False),
    ],
)
def test_source_unreadable(description: str | None, unreadable: bool) -> None:
    assert source_unreadable(description) is unreadable
