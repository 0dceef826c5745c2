from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tollway.domain.errors import InvalidInput
from tollway.openapi.paths import PathMatcher, compile_path_template


def test_compile_simple_template() -> None:
    c = compile_path_template("/books/{id}")
    assert c.params == ("id",)
    assert c.match("/books/42") == {"id": "42"}
    assert c.match("/books/42/") == {"id": "42"}
    assert c.match("/books") is None
    assert c.match("/books/42/x") is None
    assert c.match("/books/") is None
    assert c.pattern.match("/books/abc") is not None


def test_compile_mixed_and_odd_names() -> None:
    c = compile_path_template("/files/{file-name}.{ext}")
    assert c.match("/files/report.final.pdf") == {"file-name": "report.final", "ext": "pdf"}
    assert c.match("/files/noext") is None
    assert compile_path_template("/").match("/") == {}
    assert compile_path_template("/a.b/(c)").match("/a.b/(c)") == {}
    assert compile_path_template("/a.b/(c)").match("/aXb/(c)") is None


@pytest.mark.parametrize(
    "bad", ["books/{id}", "/books/{id", "/books/id}", "/books/{}", "/a/{x}/{x}", "/a/{x}{y}"]
)
def test_bad_templates(bad: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        compile_path_template(bad)
    assert exc.value.errors[0].loc == ("path_template",)
    with pytest.raises(InvalidInput):
        PathMatcher([("GET", bad, 1)])


READING_LIST = [
    ("GET", "/books", "listBooks"),
    ("POST", "/books", "createBook"),
    ("GET", "/books/{id}", "getBook"),
    ("PUT", "/books/{id}", "updateBook"),
    ("DELETE", "/books/{id}", "deleteBook"),
    ("GET", "/books/mine", "myBooks"),
    ("GET", "/books/{id}/reviews/{reviewId}", "getReview"),
    ("GET", "/files/{name}.{ext}", "getFile"),
    ("GET", "/files/{name}", "getFileRaw"),
    ("GET", "/", "root"),
]


@pytest.fixture
def matcher() -> PathMatcher[str]:
    return PathMatcher(READING_LIST)


@pytest.mark.parametrize(
    ("method", "path", "expected", "params"),
    [
        ("GET", "/books", "listBooks", {}),
        ("get", "/books/", "listBooks", {}),
        ("POST", "/books", "createBook", {}),
        ("GET", "/books/7", "getBook", {"id": "7"}),
        ("DELETE", "/books/7", "deleteBook", {"id": "7"}),
        ("GET", "/books/mine", "myBooks", {}),
        ("PUT", "/books/mine", "updateBook", {"id": "mine"}),  # backtracks to the template
        ("GET", "/books/7/reviews/r1", "getReview", {"id": "7", "reviewId": "r1"}),
        ("GET", "/files/a.txt", "getFile", {"name": "a", "ext": "txt"}),
        ("GET", "/files/README", "getFileRaw", {"name": "README"}),
        ("GET", "/", "root", {}),
        ("GET", "", "root", {}),
    ],
)
def test_matches(
    matcher: PathMatcher[str], method: str, path: str, expected: str, params: dict[str, str]
) -> None:
    m = matcher.match(method, path)
    assert m is not None
    assert (m.value, m.params) == (expected, params)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/books/7"),
        ("GET", "/book"),
        ("GET", "/books/7/reviews"),
        ("GET", "/books//"),
        ("GET", "/books/7/extra/deep/path"),
        ("POST", "/"),
    ],
)
def test_no_match(matcher: PathMatcher[str], method: str, path: str) -> None:
    assert matcher.match(method, path) is None


def test_allowed_methods(matcher: PathMatcher[str]) -> None:
    assert matcher.allowed_methods("/books/7") == {"GET", "PUT", "DELETE"}
    assert matcher.allowed_methods("/nope") == frozenset()


def test_first_registration_wins_and_from_operations() -> None:
    m = PathMatcher([("GET", "/a/{x}", 1), ("GET", "/a/{y}", 2)])
    hit = m.match("GET", "/a/1")
    assert hit is not None and hit.value == 1 and hit.params == {"x": "1"}
    ids = PathMatcher.from_operations([("GET", "/a", "getA"), ("POST", "/a", None)])
    named = ids.match("POST", "/a")
    assert named is not None and named.value == "POST /a"


segment = st.text(alphabet="abcxyz019-_.", min_size=1, max_size=6)


@given(st.lists(st.tuples(segment, st.booleans()), min_size=0, max_size=5), st.data())
def test_matcher_agrees_with_compiled_regex(
    parts: list[tuple[str, bool]], data: st.DataObject
) -> None:
    template = "/" + "/".join(
        f"{{p{i}}}" if is_param else lit for i, (lit, is_param) in enumerate(parts)
    )
    values = [data.draw(segment) if is_param else lit for lit, is_param in parts]
    path = "/" + "/".join(values)
    compiled = compile_path_template(template)
    hit = PathMatcher([("GET", template, "op")]).match("GET", path)
    assert hit is not None
    assert hit.params == compiled.match(path)
