"""A tiny method + path router for the /v1 API."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .context import Ctx
from .state import Obj

Handler = Callable[[Ctx, dict[str, Any], list[str]], Obj]


@dataclass
class Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handler: Handler
    resource: str | None


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, resource: str | None) -> Callable[[Handler], Handler]:
        regex = re.compile("^" + re.sub(r"\{[a-z_]+\}", "([^/]+)", pattern) + "$")

        def deco(fn: Handler) -> Handler:
            route = Route(method.upper(), pattern, regex, fn, resource)
            if "{" in pattern:
                self.routes.append(route)
            else:  # literal paths such as /v1/products/search win over /v1/products/{id}
                self.routes.insert(0, route)
            return fn

        return deco

    def get(self, pattern: str, resource: str | None) -> Callable[[Handler], Handler]:
        return self.add("GET", pattern, resource)

    def post(self, pattern: str, resource: str | None) -> Callable[[Handler], Handler]:
        return self.add("POST", pattern, resource)

    def delete(self, pattern: str, resource: str | None) -> Callable[[Handler], Handler]:
        return self.add("DELETE", pattern, resource)

    def match(self, method: str, path: str) -> tuple[Route, list[str]] | None:
        for route in self.routes:
            if route.method != method.upper():
                continue
            m = route.regex.match(path)
            if m:
                return route, list(m.groups())
        return None


router = Router()
