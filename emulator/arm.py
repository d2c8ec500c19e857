"""ARM plumbing shared by every resource provider the emulator serves.

* ``ArmRouter``: case-insensitive routes (ARM paths are case-insensitive, the SDKs send
  ``resourceGroups`` while ids come back as Azure stored them), each named by the RBAC
  action it performs so that counters and fault rules speak Azure's vocabulary.
* ``Operations``: the long-running-operation protocol exactly as azure-mgmt-core's
  ARMPolling expects it (202 + ``Azure-AsyncOperation`` + ``Location`` + ``Retry-After``,
  a status resource, a Location that answers 202 until done and then the result).
  Effects are applied by a *named* completion function so that operations still pending
  when the emulator stops complete after a restart.
* helpers for JSON responses, paging with absolute ``nextLink`` and resource ids.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

from aiohttp import web

from diskferry.emulator import clock
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError

Doc = dict[str, Any]


# ---------------------------------------------------------------------------------------
# requests and responses


@dataclass
class ArmRequest:
    """One routed ARM call: the aiohttp request, the emulator, path parameters, op name."""

    request: web.Request
    emu: Emulator
    params: dict[str, str]
    op: str

    @property
    def sub(self) -> str:
        return self.params["sub"]

    @property
    def rg(self) -> str:
        return self.params["rg"]

    @property
    def api_version(self) -> str:
        return self.request.query.get("api-version", "")

    @property
    def base_url(self) -> str:
        return self.emu.arm_url or f"https://{self.request.host}"

    async def body(self) -> Doc:
        raw = await self.request.read()
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise AzureError(400, "InvalidRequestContent", f"The request content was invalid: {exc}") from exc
        if not isinstance(data, dict):
            raise AzureError(400, "InvalidRequestContent", "The request content must be a JSON object.")
        return data


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=headers,
    )


def error_response(err: AzureError) -> web.Response:
    return json_response({"error": {"code": err.code, "message": err.message}}, err.status, err.headers)


def retry_after_headers(seconds: float) -> dict[str, str]:
    """Retry-After for a delay; sub-second delays go in ``retry-after-ms``.

    The SDK treats ``Retry-After: 0`` as absent (then waits its 30 s polling interval), so a
    short delay must not be rounded down to 0; it reads ``retry-after-ms`` when
    ``Retry-After`` is missing.
    """
    if seconds >= 1:
        return {"Retry-After": str(math.ceil(seconds))}
    return {"retry-after-ms": str(max(1, math.ceil(seconds * 1000)))}


def page(ctx: ArmRequest, items: list[Doc]) -> web.Response:
    """A list response, ``page_size`` items at a time, with an absolute ``nextLink``."""
    size = max(1, ctx.emu.faults.settings.page_size)
    try:
        skip = int(ctx.request.query.get("$skiptoken", "0"))
    except ValueError:
        skip = 0
    body: Doc = {"value": items[skip : skip + size]}
    if skip + size < len(items):
        query = dict(ctx.request.query)
        query["$skiptoken"] = str(skip + size)
        body["nextLink"] = f"{ctx.base_url}{ctx.request.path}?{urlencode(query)}"
    return json_response(body)


def resource_id(sub: str, rg: str, rtype: str, name: str) -> str:
    """``/subscriptions/{sub}/resourceGroups/{rg}/providers/{rtype}/{name}``."""
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{rtype}/{name}"


_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/(?P<rtype>[^/]+/[^/]+)/(?P<name>[^/]+)$",
    re.IGNORECASE,
)


def parse_id(rid: str) -> tuple[str, str, str, str] | None:
    """``(sub, rg, 'Microsoft.X/type', name)`` of a resource id, or None."""
    m = _ID.match(rid.strip())
    if not m:
        return None
    return m["sub"], m["rg"], m["rtype"], m["name"]


# ---------------------------------------------------------------------------------------
# routing

ArmHandler = Callable[[ArmRequest], Awaitable[web.StreamResponse]]


@dataclass
class _Route:
    method: str
    #: the pattern's segments: a lower-cased literal, or None for a ``{name}`` parameter
    segments: tuple[str | None, ...]
    #: (segment index, name) of each parameter
    params: tuple[tuple[int, str], ...]
    op: str
    handler: ArmHandler
    #: registration order: the first route added wins when several match
    order: int = 0


@dataclass
class _Node:
    """One path segment of the route tree: literal children by lower-cased name, one
    child for any parameter, and the routes that end here."""

    literals: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    routes: list[_Route] = field(default_factory=list)


class ArmRouter:
    """Routes looked up segment by segment in a tree, so resolving costs about the path's
    depth whatever the number of routes (a literal segment before a parameter: both are
    tried, and among every route that matches, the first added wins, as in a scan)."""

    def __init__(self) -> None:
        self._root = _Node()
        self._count = 0

    def add(self, method: str, pattern: str, op: str, handler: ArmHandler) -> None:
        """Route ``METHOD pattern``; ``{name}`` matches one path segment."""
        segments: list[str | None] = []
        params: list[tuple[int, str]] = []
        for i, part in enumerate(pattern.strip("/").split("/")):
            m = _PARAM.fullmatch(part)
            if m:
                segments.append(None)
                params.append((i, m[1]))
            elif "{" in part or not part:
                raise ValueError(f"unsupported route segment {part!r} in {pattern!r}")
            else:
                segments.append(part.lower())
        node = self._root
        for seg in segments:
            if seg is None:
                node.param = node.param or _Node()
                node = node.param
            else:
                node = node.literals.setdefault(seg, _Node())
        node.routes.append(_Route(method.upper(), tuple(segments), tuple(params), op, handler, self._count))
        self._count += 1

    def resolve(self, method: str, path: str) -> tuple[_Route, dict[str, str]]:
        # one trailing slash is allowed; an empty segment matches nothing
        rest = path[1:-1] if path.endswith("/") else path[1:]
        parts = rest.split("/")
        ok = path.startswith("/") and all(parts)
        matches = _walk(self._root, [p.lower() for p in parts], 0) if ok else []
        if not matches:
            raise AzureError(404, "InvalidResourceType", f"The resource type could not be found for path '{path}'.")
        chosen = [r for r in matches if r.method == method]
        if not chosen:
            raise AzureError(405, "MethodNotAllowed", f"The HTTP method '{method}' is not supported.")
        route = min(chosen, key=lambda r: r.order)
        return route, {name: unquote(parts[i]) for i, name in route.params}


_PARAM = re.compile(r"\{(\w+)\}")


def _walk(node: _Node, parts: list[str], i: int) -> list[_Route]:
    """Every route whose pattern matches ``parts[i:]`` below ``node``."""
    if i == len(parts):
        return node.routes
    found: list[_Route] = []
    child = node.literals.get(parts[i])
    if child is not None:
        found = _walk(child, parts, i + 1)
    if node.param is not None:
        found = found + _walk(node.param, parts, i + 1)
    return found


# ---------------------------------------------------------------------------------------
# long-running operations

#: completion functions by name: fn(emu, args) -> output (or None); raise AzureError to fail
Completion = Callable[[Emulator, Doc], Doc | None]
_COMPLETIONS: dict[str, Completion] = {}
#: optional hooks run when an operation fails (injected fault or completion error)
_ON_FAILURE: dict[str, Callable[[Emulator, Doc, Doc], None]] = {}


def completion(name: str) -> Callable[[Completion], Completion]:
    """Register a named completion function for ``Operations.begin``."""

    def deco(fn: Completion) -> Completion:
        _COMPLETIONS[name] = fn
        return fn

    return deco


def on_failure(name: str) -> Callable[[Callable[[Emulator, Doc, Doc], None]], Callable[[Emulator, Doc, Doc], None]]:
    """Register what to undo when the operation ``name`` fails: fn(emu, args, error)."""

    def deco(fn: Callable[[Emulator, Doc, Doc], None]) -> Callable[[Emulator, Doc, Doc], None]:
        _ON_FAILURE[name] = fn
        return fn

    return deco


@dataclass
class Operation:
    id: str
    op: str
    sub: str
    provider: str
    location: str
    complete: str
    args: Doc
    start: float
    due: float
    status: str = "InProgress"
    end: float | None = None
    output: Doc | None = None
    error: Doc | None = None
    #: an injected failure waiting for the due time
    fail_with: Doc | None = None
    extra: Doc = field(default_factory=dict)


class Operations:
    """The table of long-running operations, persisted in the store."""

    KIND = "operation"

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def resume(self) -> None:
        """Finish (now or when due) the operations a previous run left in progress."""
        loop = asyncio.get_running_loop()
        for doc in self.emu.store.values(self.KIND):
            if doc["status"] == "InProgress":
                delay = max(0.0, doc["due"] - clock.now())
                loop.call_later(delay, self._finish, doc["id"])

    def begin(
        self,
        ctx: ArmRequest,
        complete: str,
        args: Doc,
        *,
        location: str,
        initial_status: int = 202,
        initial_body: Doc | None = None,
        async_header: bool = True,
        location_header: bool = True,
    ) -> web.Response:
        """Accept a long-running call whose effect ``complete(emu, args)`` applies when due."""
        if complete not in _COMPLETIONS:
            raise RuntimeError(f"no completion registered as {complete!r}")
        provider = ctx.op.split("/", 1)[0]
        where = (location or "global").replace(" ", "").lower()
        latency = ctx.emu.faults.settings.lro_latency_for(ctx.op, where)
        fault = ctx.emu.faults.take(ctx.op, "lro", ctx.request.path)
        now = clock.now()
        op = Operation(
            id=str(uuid.uuid4()),
            op=ctx.op,
            sub=ctx.params.get("sub", ctx.emu.identity.subscriptions[0]),
            provider=provider,
            location=where,
            complete=complete,
            args=args,
            start=now,
            due=now + latency,
            fail_with={"code": fault.code, "message": fault.message} if fault else None,
        )
        self._save(op)
        if latency <= 0:
            self._finish(op.id)
        else:
            asyncio.get_running_loop().call_later(latency, self._finish, op.id)

        headers: dict[str, str] = {}
        status_url = self.status_url(op, ctx.api_version)
        if async_header:
            headers["Azure-AsyncOperation"] = status_url
        if location_header:
            headers["Location"] = self.location_url(op, ctx.api_version)
        headers.update(self._hint(op))
        return json_response(initial_body, initial_status, headers)

    def _hint(self, op: Operation) -> dict[str, str]:
        """The Retry-After of a running operation's answers: the provider's fixed hint, or the
        operation's whole length when shorter (never when it will end: Azure does not say)."""
        hint = min(self.emu.faults.settings.lro_retry_after, op.due - op.start)
        return retry_after_headers(max(hint, 0.001))

    def status_url(self, op: Operation, api_version: str) -> str:
        q = urlencode({"api-version": api_version or "2024-03-02"})
        return (
            f"{self.emu.arm_url}/subscriptions/{op.sub}/providers/{op.provider}"
            f"/locations/{op.location}/operations/{op.id}?{q}"
        )

    def location_url(self, op: Operation, api_version: str) -> str:
        q = urlencode({"monitor": "true", "api-version": api_version or "2024-03-02"})
        return (
            f"{self.emu.arm_url}/subscriptions/{op.sub}/providers/{op.provider}"
            f"/locations/{op.location}/operations/{op.id}?{q}"
        )

    def get(self, op_id: str) -> Operation | None:
        doc = self.emu.store.get(self.KIND, op_id)
        return Operation(**doc) if doc else None

    def _save(self, op: Operation) -> None:
        self.emu.store.put(self.KIND, op.id, asdict(op))

    def _finish(self, op_id: str) -> None:
        op = self.get(op_id)
        if op is None or op.status != "InProgress":
            return
        op.end = clock.now()
        if op.fail_with is not None:
            op.status, op.error = "Failed", op.fail_with
        else:
            try:
                op.output = _COMPLETIONS[op.complete](self.emu, op.args)
                op.status = "Succeeded"
            except AzureError as err:
                op.status, op.error = "Failed", {"code": err.code, "message": err.message}
        if op.status == "Failed" and op.complete in _ON_FAILURE:
            _ON_FAILURE[op.complete](self.emu, op.args, op.error or {})
        self._save(op)

    # -- the two URLs the SDK polls ---------------------------------------------------------
    async def handle_status(self, ctx: ArmRequest) -> web.Response:
        op = self.get(ctx.params["opid"])
        if op is None or op.sub.lower() != ctx.sub.lower():
            raise AzureError(404, "NotFound", f"The operation '{ctx.params['opid']}' was not found.")
        if ctx.request.query.get("monitor", "").lower() == "true":
            return self._location_response(op)
        body: Doc = {"name": op.id, "status": op.status, "startTime": clock.iso(op.start)}
        if op.end is not None:
            body["endTime"] = clock.iso(op.end)
        if op.output is not None:
            body["properties"] = {"output": op.output}
        if op.error is not None:
            body["error"] = op.error
        headers = self._hint(op) if op.status == "InProgress" else {}
        return json_response(body, 200, headers)

    def _location_response(self, op: Operation) -> web.Response:
        if op.status == "InProgress":
            headers = self._hint(op)
            headers["Location"] = self.location_url(op, "")
            return json_response(None, 202, headers)
        if op.status == "Failed":
            err = op.error or {"code": "InternalError", "message": "The operation failed."}
            return json_response({"error": err}, 400 if err.get("code") != "InternalError" else 500)
        if op.output is None:
            return json_response(None, 200)
        return json_response(op.output, 200)


def register_operations(router: ArmRouter) -> None:
    async def status(ctx: ArmRequest) -> web.StreamResponse:
        ops = ctx.emu.operations
        return await ops.handle_status(ctx)

    router.add(
        "GET",
        "/subscriptions/{sub}/providers/{provider}/locations/{loc}/operations/{opid}",
        "Microsoft.Resources/operations/read",
        status,
    )
