"""Search endpoints with a subset of Stripe's query language.

Supported: clauses joined by ``AND`` (or a single ``OR`` list), each ``field:'value'``
(exact), ``field~'value'`` (substring), ``-field:'value'`` (negation) and
``metadata['key']:'value'``. Values may be unquoted numbers/booleans or ``null``.
"""

from __future__ import annotations

import re
from typing import Any

from .. import errors
from ..context import Ctx
from ..params import opt_int
from ..render import expand_list, render
from ..router import router
from ..state import Obj

_CLAUSE = re.compile(
    r"""^(?P<neg>-)?(?P<field>metadata\[['"](?P<key>[^'"]+)['"]\]|[a-z_.]+)"""
    r"""(?P<op>:|~)(?P<value>'[^']*'|"[^"]*"|\S+)$"""
)


def _split(query: str) -> tuple[list[str], str]:
    for joiner in (" AND ", " OR "):
        if joiner in query:
            return [c.strip() for c in query.split(joiner)], joiner.strip()
    return [query.strip()], "AND"


def _field(obj: Obj, field: str) -> Any:
    node: Any = obj
    for part in field.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _matches(obj: Obj, clause: str) -> bool:
    m = _CLAUSE.match(clause)
    if not m:
        raise errors.bad("query", f"Invalid search query clause: {clause}")
    raw = m.group("value").strip("'\"")
    if m.group("key"):
        actual: Any = (obj.get("metadata") or {}).get(m.group("key"))
    else:
        actual = _field(obj, m.group("field"))
    text = (
        "" if actual is None else str(actual).lower() if isinstance(actual, bool) else str(actual)
    )
    if raw == "null":
        hit = actual is None
    elif m.group("op") == "~":
        hit = raw.lower() in text.lower()
    else:
        hit = text == raw
    return hit != bool(m.group("neg"))


def _search(ctx: Ctx, p: dict[str, Any], object_name: str, url: str) -> Obj:
    query = p.get("query")
    if not query:
        raise errors.missing("query")
    clauses, joiner = _split(str(query))
    items = [o for o in ctx.state.of(object_name) if not o.get("deleted")]
    if joiner == "AND":
        items = [o for o in items if all(_matches(o, c) for c in clauses)]
    else:
        items = [o for o in items if any(_matches(o, c) for c in clauses)]
    limit = opt_int(p, "limit") or 10
    start = int(str(p.get("page") or "0").removeprefix("page_") or 0)
    page = items[start : start + limit]
    more = start + limit < len(items)
    expands = [e[len("data.") :] for e in expand_list(p) if e.startswith("data.")]
    return {
        "object": "search_result",
        "data": [render(ctx.state, o, expands) for o in page],
        "has_more": more,
        "next_page": f"page_{start + limit}" if more else None,
        "url": url,
    }


@router.get("/v1/products/search", "product")
def products(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    return _search(ctx, p, "product", "/v1/products/search")


@router.get("/v1/prices/search", "plan")
def prices(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    return _search(ctx, p, "price", "/v1/prices/search")


@router.get("/v1/customers/search", "customer")
def customers(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    return _search(ctx, p, "customer", "/v1/customers/search")


@router.get("/v1/subscriptions/search", "subscription")
def subscriptions(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    return _search(ctx, p, "subscription", "/v1/subscriptions/search")


@router.get("/v1/invoices/search", "invoice")
def invoices(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    return _search(ctx, p, "invoice", "/v1/invoices/search")
