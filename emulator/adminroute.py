"""One route of the admin API: the shape every admin module declares its routes in.

Modules that answer under ``/_admin/`` (knobs, hashes, the audit) each export a ``ROUTES``
table of these; :mod:`diskferry.emulator.admin` mounts them all, and none imports it back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from diskferry.emulator.context import Emulator

#: ``handler(request, emu) -> JSON-able`` (or a response of its own, e.g. a 404)
AdminHandler = Callable[[web.Request, Emulator], Awaitable[Any]]


@dataclass(frozen=True)
class AdminRoute:
    method: str
    #: below ``/_admin``, e.g. ``/counters``
    path: str
    handler: AdminHandler
