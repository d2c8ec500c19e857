"""ARM routing: the route tree answers exactly as a first-match scan of the route patterns
(case-insensitive paths, one optional trailing slash, 404 for an unknown path, 405 for a
known path with another method), for every route the emulator serves."""

from __future__ import annotations

import random
import re
from urllib.parse import unquote

import pytest

from diskferry.emulator import compute, storage
from diskferry.emulator.arm import ArmHandler, ArmRequest, ArmRouter, register_operations
from diskferry.emulator.errors import AzureError

METHODS = ("GET", "PUT", "POST", "PATCH", "DELETE", "HEAD")


class Recording(ArmRouter):
    """The real router, keeping each pattern for the reference scan."""

    def __init__(self) -> None:
        super().__init__()
        self.added: list[tuple[str, str, str]] = []

    def add(self, method: str, pattern: str, op: str, handler: ArmHandler) -> None:
        self.added.append((method, pattern, op))
        super().add(method, pattern, op, handler)


def _scan(added: list[tuple[str, str, str]], method: str, path: str) -> tuple[str, dict[str, str]] | int:
    """The reference: the first matching pattern in registration order, as regexes."""
    allowed = False
    for m, pattern, op in added:
        literal = re.escape(pattern.rstrip("/")).replace(r"\{", "{").replace(r"\}", "}")
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", literal) + "/?$"
        found = re.match(regex, path, re.IGNORECASE)
        if not found:
            continue
        if m != method:
            allowed = True
            continue
        return op, {k: unquote(v) for k, v in found.groupdict().items()}
    return 405 if allowed else 404


def _instances(pattern: str, rng: random.Random) -> list[str]:
    """Paths for ``pattern``: random case, parameters that look like literals, and broken
    variants (a segment dropped or added, a double slash, a trailing slash)."""
    words = ["providers", "resourceGroups", "disks", "Microsoft.Compute", "x%2Fy", "MyRG", "ok-1"]
    segs = [rng.choice(words) if s.startswith("{") else s for s in pattern.strip("/").split("/")]
    cased = ["".join(c.upper() if rng.random() < 0.3 else c for c in s) for s in segs]
    path = "/" + "/".join(cased)
    return [
        path,
        path + "/",
        path + "//",
        path + "/extra",
        "/" + "/".join(cased[:-1]),
        path.replace("/", "//", 1),
        "/" + "/".join([*cased[:2], "", *cased[2:]]),
    ]


def test_the_route_tree_answers_as_a_scan_of_every_route() -> None:
    router = Recording()
    register_operations(router)
    compute.register(router)
    storage.register(router)
    assert len(router.added) > 40
    rng = random.Random(11)
    checked = 0
    for _, pattern, _ in router.added:
        for path in _instances(pattern, rng):
            for method in METHODS:
                expected = _scan(router.added, method, path)
                try:
                    route, params = router.resolve(method, path)
                    got: tuple[str, dict[str, str]] | int = (route.op, params)
                except AzureError as err:
                    got = err.status
                assert got == expected, (method, path)
                checked += 1
    assert checked > 1000


def test_first_added_route_wins_and_names_are_kept() -> None:
    async def handler(ctx: ArmRequest) -> object:  # never called
        raise AssertionError

    router = ArmRouter()
    router.add("GET", "/subscriptions/{sub}/things/{name}", "any", handler)  # type: ignore[arg-type]
    router.add("GET", "/subscriptions/{sub}/things/special", "special", handler)  # type: ignore[arg-type]
    router.add("POST", "/subscriptions/{sub}/Things/special", "special-post", handler)  # type: ignore[arg-type]
    route, params = router.resolve("GET", "/subscriptions/S1/THINGS/special/")
    assert (route.op, params) == ("any", {"sub": "S1", "name": "special"})
    route, params = router.resolve("POST", "/SUBSCRIPTIONS/s2/things/Special")
    assert (route.op, params) == ("special-post", {"sub": "s2"})
    with pytest.raises(AzureError) as err:
        router.resolve("DELETE", "/subscriptions/s/things/x")
    assert err.value.status == 405 and err.value.code == "MethodNotAllowed"
    with pytest.raises(AzureError) as err:
        router.resolve("GET", "/subscriptions/s/other/x")
    assert err.value.status == 404 and err.value.code == "InvalidResourceType"
