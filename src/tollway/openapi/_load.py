"""Safe loading of an uploaded document (JSON or YAML) into plain Python data.

YAML is read with the safe loader, refusing aliases (the "billion laughs" bomb needs them)
and nesting deeper than :data:`MAX_DEPTH` (flow brackets are counted on the raw text first,
block nesting on the event stream); both are checked before
any node is built. Timestamps stay strings and non-string mapping keys (``200:``) become
strings, so the result is JSON-shaped.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tollway.domain.errors import InvalidInput

MAX_DEPTH = 100

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    pass


def _timestamp_as_string(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_string)


def _fail(message: str) -> InvalidInput:
    return InvalidInput.at(("document",), message)


_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def _refuse_deep_flow_nesting(text: str) -> None:
    """Our own depth limit on ``[``/``{`` nesting, applied before any parser runs, so the
    refusal never depends on a parser's own limits or wording. Brackets inside strings
    count too, which can only make a pathological document look deeper, never shallower."""
    depth = 0
    for ch in _NOT_A_BRACKET.sub("", text):
        if ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _fail(f"the document is nested more than {MAX_DEPTH} levels deep")
        elif depth:
            depth -= 1


def _scan_yaml_events(text: str) -> None:
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                where = f" (line {mark.line + 1})" if mark is not None else ""
                raise _fail(f"YAML aliases (*{event.anchor}) are not accepted{where}")
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _fail(f"the document is nested more than {MAX_DEPTH} levels deep")
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise _fail(f"not valid YAML: {_yaml_problem(exc)}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _normalize(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise _fail(f"the document is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(k, bool):
                key = "true" if k else "false"
            elif k is None:
                key = "null"
            elif isinstance(k, str):
                key = k
            elif isinstance(k, int | float):
                key = str(k)
            else:
                raise _fail(f"mapping key {k!r} is not a string")
            out[key] = _normalize(v, depth + 1)
        return out
    if isinstance(value, list):
        return [_normalize(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        raise _fail("binary (!!binary) values are not accepted")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise _fail(f"values of type {type(value).__name__} are not accepted (JSON types only)")


def load_document(
    raw: bytes, *, filename: str | None, content_type: str | None, max_bytes: int
) -> Any:
    """The document in ``raw`` as JSON-shaped Python data, or :class:`InvalidInput`."""
    if len(raw) > max_bytes:
        raise _fail(f"the document is too large ({len(raw)} bytes; the limit is {max_bytes})")
    if not raw.strip():
        raise _fail("the document is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _fail("the document is not UTF-8 text") from None
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    name = (filename or "").lower().split("?", 1)[0].split("#", 1)[0]
    says_json = ctype.endswith("json") or name.endswith(".json")
    says_yaml = "yaml" in ctype or name.endswith((".yaml", ".yml"))
    looks_json = text.lstrip()[:1] in ("{", "[")
    _refuse_deep_flow_nesting(text)
    if says_json or (looks_json and not says_yaml):
        try:
            return _normalize(json.loads(text))
        except json.JSONDecodeError as exc:
            if says_json:
                raise _fail(
                    f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
                ) from None
        except RecursionError:
            raise _fail(f"the document is nested more than {MAX_DEPTH} levels deep") from None
    _scan_yaml_events(text)
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a safe loader subclass)
    except yaml.YAMLError as exc:
        raise _fail(f"not valid YAML: {_yaml_problem(exc)}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. "!!int abc"
        raise _fail(f"not valid YAML: {str(exc)[:200]}") from None
    except RecursionError:
        raise _fail(f"the document is nested more than {MAX_DEPTH} levels deep") from None
    return _normalize(data)
