"""Errors the emulator answers with, in the wire shapes Azure uses.

Handlers raise these; the ARM and blob middlewares turn them into responses
(``{"error": {"code", "message"}}`` for ARM, the storage XML error body for blobs).
"""

from __future__ import annotations


class AzureError(Exception):
    """An error Azure would return: HTTP status, Azure error code and message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def not_found(kind: str, name: str, rg: str | None = None) -> AzureError:
    where = f" under resource group '{rg}'" if rg else ""
    return AzureError(
        404,
        "ResourceNotFound",
        f"The Resource '{kind}/{name}'{where} was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def rg_not_found(rg: str) -> AzureError:
    return AzureError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")


def bad_request(message: str, code: str = "BadRequest") -> AzureError:
    return AzureError(400, code, message)


def conflict(message: str, code: str = "OperationNotAllowed") -> AzureError:
    return AzureError(409, code, message)
