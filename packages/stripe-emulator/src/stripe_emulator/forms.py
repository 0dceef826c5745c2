"""Decode the SDK's form encoding (``a[b][0][c]=v``, ``expand[]=x``) into nested values."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import StripeError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def _segments(key: str) -> list[str]:
    m = _KEY.match(key)
    if not m:
        raise StripeError(400, f"Invalid parameter name: {key}", code="parameter_invalid")
    return [m.group(1), *re.findall(r"\[([^\[\]]*)\]", m.group(2))]


def _listify(node: Any) -> Any:
    """Turn dicts whose keys are all indices (or the empty '[]' marker) into lists."""
    if isinstance(node, dict):
        for k, v in list(node.items()):
            node[k] = _listify(v)
        if node and all(k == "" or k.isdigit() for k in node):
            if "" in node:
                return node[""]
            return [node[k] for k in sorted(node, key=int)]
    return node


def decode_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        segs = _segments(key)
        node: dict[str, Any] = root
        for i, seg in enumerate(segs):
            last = i == len(segs) - 1
            if last:
                if seg == "" and i > 0:
                    node.setdefault("", []).append(value)
                else:
                    node[seg] = value
            else:
                nxt = node.get(seg)
                if not isinstance(nxt, dict):
                    nxt = {}
                    node[seg] = nxt
                node = nxt
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def decode(body: str) -> dict[str, Any]:
    return decode_pairs(parse_qsl(body, keep_blank_values=True))
