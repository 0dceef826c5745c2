"""Path templates (``/books/{id}``) and a fast (method, path) -> operation matcher.

:class:`PathMatcher` builds a segment trie once; matching walks one dictionary lookup per
literal segment, so the cost grows with the depth of the path, not with the number of
operations. A literal segment beats a template parameter (``/books/mine`` wins over
``/books/{id}``, as OpenAPI requires), then segments mixing text and parameters
(``/files/{name}.{ext}``), then a whole-segment parameter; the search backtracks, so the
most specific route always wins. One trailing slash is ignored (``/books/`` = ``/books``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tollway.domain.errors import InvalidInput

T = TypeVar("T")

_PARAM_RE = re.compile(r"\{([^{}/]*)\}")


@dataclass(frozen=True, slots=True)
class CompiledPath:
    """A compiled template: ``pattern`` matches a whole path; ``params`` names its groups."""

    template: str
    pattern: re.Pattern[str]
    params: tuple[str, ...]

    def match(self, path: str) -> dict[str, str] | None:
        m = self.pattern.match(_normalize(path))
        return dict(zip(self.params, m.groups(), strict=True)) if m else None


def _normalize(path: str) -> str:
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path if path.startswith("/") else "/" + path


def _segment_regex(segment: str) -> tuple[str, list[str]]:
    names: list[str] = []
    out: list[str] = []
    pos = 0
    for m in _PARAM_RE.finditer(segment):
        out.append(re.escape(segment[pos : m.start()]))
        names.append(m.group(1))
        out.append("([^/]+)")
        pos = m.end()
    out.append(re.escape(segment[pos:]))
    return "".join(out), names


def _check_template(template: str) -> None:
    def bad(message: str) -> InvalidInput:
        return InvalidInput.at(("path_template",), f"{template!r}: {message}")

    if not template.startswith("/"):
        raise bad("must start with '/'")
    stripped = _PARAM_RE.sub("", template)
    if "{" in stripped or "}" in stripped:
        raise bad("has unbalanced '{' or '}'")
    names = _PARAM_RE.findall(template)
    if any(not n for n in names):
        raise bad("has an empty parameter name '{}'")
    if len(set(names)) != len(names):
        raise bad("uses the same parameter name twice")
    for segment in template.split("/"):
        if re.search(r"\}\{", segment):
            raise bad("has two parameters with nothing between them")


def compile_path_template(template: str) -> CompiledPath:
    """Compile ``/books/{id}`` into a regular expression matching whole paths."""
    _check_template(template)
    normalized = _normalize(template)
    regex, names = _segment_regex(normalized)
    return CompiledPath(template, re.compile(r"\A" + regex + r"\Z"), tuple(names))


@dataclass(frozen=True, slots=True)
class PathMatch(Generic[T]):
    value: T
    method: str
    template: str
    params: dict[str, str]


@dataclass(slots=True)
class _Route(Generic[T]):
    value: T
    template: str
    names: tuple[str, ...]


@dataclass(slots=True)
class _Node(Generic[T]):
    literal: dict[str, _Node[T]] = field(default_factory=dict)
    mixed: list[tuple[re.Pattern[str], _Node[T]]] = field(default_factory=list)
    param: _Node[T] | None = None
    routes: dict[str, _Route[T]] = field(default_factory=dict)


def _split(path: str) -> list[str]:
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    if path in ("", "/"):
        return []
    return (path[1:] if path.startswith("/") else path).split("/")


class PathMatcher(Generic[T]):
    """Matches ``(method, path)`` to the value of the most specific registered operation.

    ``operations`` are ``(method, path_template, value)`` triples; when two operations
    have the same method and the same template shape, the first one wins.
    """

    def __init__(self, operations: Iterable[tuple[str, str, T]]) -> None:
        self._root: _Node[T] = _Node()
        for method, template, value in operations:
            self.add(method, template, value)

    @staticmethod
    def from_operations(
        operations: Iterable[tuple[str, str, str | None]],
    ) -> PathMatcher[str]:
        """A matcher whose values are operation ids (``"GET /books/{id}"`` when missing)."""
        return PathMatcher((m, t, oid or f"{m.upper()} {t}") for m, t, oid in operations)

    def add(self, method: str, template: str, value: T) -> None:
        _check_template(template)
        node = self._root
        names: list[str] = []
        for segment in _split(template):
            if "{" not in segment:
                node = node.literal.setdefault(segment, _Node())
            elif _PARAM_RE.fullmatch(segment):
                names.append(segment[1:-1])
                if node.param is None:
                    node.param = _Node()
                node = node.param
            else:
                regex, seg_names = _segment_regex(segment)
                names.extend(seg_names)
                pattern = re.compile(r"\A" + regex + r"\Z")
                for existing, child in node.mixed:
                    if existing.pattern == pattern.pattern:
                        node = child
                        break
                else:
                    child = _Node()
                    node.mixed.append((pattern, child))
                    node = child
        node.routes.setdefault(method.upper(), _Route(value, template, tuple(names)))

    def match(self, method: str, path: str) -> PathMatch[T] | None:
        """The operation for ``method`` and ``path`` (no query string), or None."""
        verb = method.upper()
        segments = _split(path)
        found = self._greedy(segments, verb)
        if found is None:
            found = self._walk(self._root, segments, 0, [], verb)
            if found is None:
                return None
        node, values = found
        route = node.routes[verb]
        params = dict(zip(route.names, values, strict=True))
        return PathMatch(route.value, verb, route.template, params)

    def allowed_methods(self, path: str) -> frozenset[str]:
        """Methods registered for the most specific template matching ``path`` (for 405)."""
        found = self._walk(self._root, _split(path), 0, [], None)
        return frozenset(found[0].routes) if found is not None else frozenset()

    def _greedy(self, segments: list[str], verb: str) -> tuple[_Node[T], list[str]] | None:
        # The first branch the full search would try (literal, then mixed, then parameter),
        # without backtracking: when it succeeds it is the search's answer, found cheaply.
        node = self._root
        values: list[str] = []
        for segment in segments:
            child = node.literal.get(segment)
            if child is None:
                if not segment:
                    return None
                if node.mixed:
                    return None  # rare shape: leave it to the full search
                child = node.param
                if child is None:
                    return None
                values.append(segment)
            node = child
        return (node, values) if verb in node.routes else None

    def _walk(
        self, node: _Node[T], segments: list[str], i: int, values: list[str], verb: str | None
    ) -> tuple[_Node[T], list[str]] | None:
        if i == len(segments):
            ok = verb in node.routes if verb is not None else bool(node.routes)
            return (node, values) if ok else None
        segment = segments[i]
        child = node.literal.get(segment)
        if child is not None:
            found = self._walk(child, segments, i + 1, values, verb)
            if found is not None:
                return found
        if not segment:
            return None
        for pattern, mixed_child in node.mixed:
            m = pattern.match(segment)
            if m is not None:
                found = self._walk(mixed_child, segments, i + 1, [*values, *m.groups()], verb)
                if found is not None:
                    return found
        if node.param is not None:
            return self._walk(node.param, segments, i + 1, [*values, segment], verb)
        return None
