from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tollway.domain.errors import InvalidInput
from tollway.openapi.parse import ImportedOperation, parse_openapi

FIXTURES = Path(__file__).parent / "fixtures"
KEYS = [
    "/a",
    "/a/{id}",
    "get",
    "post",
    "responses",
    "200",
    "description",
    "parameters",
    "$ref",
    "name",
    "in",
    "schema",
    "content",
    "operationId",
]


def _load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _ops(api) -> list[tuple[str, str, str | None]]:  # type: ignore[no-untyped-def]
    return [(o.method, o.path_template, o.operation_id) for o in api.operations]


def test_reading_list_openapi_30_yaml() -> None:
    api = parse_openapi(_load("reading-list.yaml"), filename="reading-list.yaml")
    assert api.title == "Reading List"
    assert api.version == "1.0.0"
    assert api.description == "Keep track of the books you want to read."
    assert api.base_path == "/v1"
    assert api.usage_header is None
    assert _ops(api) == [
        ("GET", "/books", "listBooks"),
        ("POST", "/books", "createBook"),
        ("GET", "/books/{id}", "getBook"),
        ("PUT", "/books/{id}", "updateBook"),
        ("DELETE", "/books/{id}", "deleteBook"),
    ]
    assert api.operations[0] == ImportedOperation("GET", "/books", "listBooks", "List books")


def test_openapi_31_json_with_server_variables() -> None:
    api = parse_openapi(_load("weather-3.1.json"), content_type="application/json")
    assert (api.title, api.version, api.spec_version) == ("Weather", "2.3", "3.1.0")
    assert api.base_path == "/api/v2"
    assert _ops(api) == [("GET", "/forecast/{city}", "getForecast"), ("GET", "/alerts", None)]


def test_swagger_20_yaml_with_integer_response_codes() -> None:
    api = parse_openapi(_load("petstore-swagger2.yaml"))
    assert (api.title, api.spec_version, api.base_path) == ("Petstore", "2.0", "/api")
    assert _ops(api) == [
        ("GET", "/pets", "listPets"),
        ("POST", "/pets", "addPet"),
        ("GET", "/pets/{petId}", "getPet"),
    ]


def test_json_detected_without_hints_and_yaml_as_json_superset() -> None:
    doc = {"openapi": "3.0.3", "info": {"title": "J", "version": "1"}, "paths": {}}
    assert parse_openapi(json.dumps(doc).encode()).title == "J"
    assert parse_openapi(json.dumps(doc).encode(), filename="x.yaml").title == "J"
    assert parse_openapi(b"\xef\xbb\xbf" + json.dumps(doc).encode()).title == "J"


def test_broken_document_says_where() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_openapi(_load("broken-responses.yaml"))
    err = exc.value
    assert err.errors[0].loc == ("paths", "/books/{id}", "get", "responses")
    assert "paths./books/{id}.get.responses: " in err.detail
    assert "not of type" in err.detail


def _doc(paths: str, version: str = "3.0.3") -> bytes:
    return f"openapi: {version}\ninfo: {{title: T, version: '1'}}\npaths:\n{paths}".encode()


def test_missing_required_field_location() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_openapi(b"openapi: 3.1.0\ninfo: {title: T}\npaths: {}\n")
    assert exc.value.errors[0].loc == ("info",)
    assert "version" in exc.value.errors[0].message


def test_several_errors_reported() -> None:
    body = _doc("  /a:\n    get: {responses: 1}\n  /b:\n    get: {responses: 2}\n")
    with pytest.raises(InvalidInput) as exc:
        parse_openapi(body)
    locs = {e.loc for e in exc.value.errors}
    assert ("paths", "/a", "get", "responses") in locs
    assert ("paths", "/b", "get", "responses") in locs
    assert "more problem" in exc.value.detail


def test_semantic_errors_from_validator() -> None:
    unresolved_param = _doc("  /a/{id}:\n    get:\n      responses: {'200': {description: ok}}\n")
    with pytest.raises(InvalidInput, match="id"):
        parse_openapi(unresolved_param)
    duplicate_ids = _doc(
        "  /a:\n"
        "    get: {operationId: x, responses: {'200': {description: ok}}}\n"
        "    post: {operationId: x, responses: {'200': {description: ok}}}\n"
    )
    with pytest.raises(InvalidInput, match="not unique"):
        parse_openapi(duplicate_ids)


def test_dangling_and_external_refs_refused_with_location() -> None:
    dangling = _doc(
        "  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n"
        "          content: {application/json: {schema: {$ref: '#/components/schemas/Nope'}}}\n"
    )
    with pytest.raises(InvalidInput) as exc:
        parse_openapi(dangling)
    assert exc.value.errors[0].loc[-1] == "$ref"
    assert "points to nothing" in exc.value.detail
    for target in ("http://169.254.169.254/latest", "file:///etc/passwd", "other.yaml#/X"):
        external = dangling.replace(b"#/components/schemas/Nope", target.encode())
        with pytest.raises(InvalidInput, match="external reference"):
            parse_openapi(external)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\xff\xfe\x00garbage", "UTF-8"),
        (b"{not json", "not valid"),
        (b"key: [unclosed", "not valid YAML"),
        (b"- just\n- a list\n", "must be an object"),
        (b"just a string", "must be an object"),
        (b"info: {title: T, version: '1'}\npaths: {}\n", "neither an 'openapi' nor a 'swagger'"),
        (b"openapi: 3.0\ninfo: {title: T, version: '1'}\npaths: {}\n", "must be a string"),
        (b"openapi: '4.0.0'\ninfo: {title: T, version: '1'}\npaths: {}\n", "not supported"),
        (b"openapi: '3.2.0'\ninfo: {title: T, version: '1'}\npaths: {}\n", "not supported"),
        (b"swagger: '1.2'\ninfo: {title: T, version: '1'}\npaths: {}\n", "not supported"),
    ],
)
def test_not_an_openapi_document(raw: bytes, words: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_openapi(raw)
    assert words in exc.value.detail


def test_invalid_json_with_json_hint_names_position() -> None:
    with pytest.raises(InvalidInput, match="not valid JSON: .* line 1"):
        parse_openapi(b'{"openapi": }', content_type="application/json; charset=utf-8")


def test_size_limit() -> None:
    raw = _load("reading-list.yaml")
    parse_openapi(raw, max_bytes=len(raw))
    with pytest.raises(InvalidInput, match="too large"):
        parse_openapi(raw, max_bytes=len(raw) - 1)


def test_yaml_bomb_refused() -> None:
    bomb = b"openapi: 3.0.3\na: &a [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 10):
        prev = "a" if i == 1 else f"a{i - 1}"
        bomb += f"a{i}: &a{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n".encode()
    with pytest.raises(InvalidInput, match="aliases"):
        parse_openapi(bomb)


def test_deep_nesting_refused() -> None:
    with pytest.raises(InvalidInput, match="nested"):
        parse_openapi(b"[" * 5000 + b"]" * 5000, filename="x.yaml")
    with pytest.raises(InvalidInput, match="nested"):
        parse_openapi(b"[" * 100_000 + b"]" * 100_000, filename="x.json")


def test_yaml_dates_stay_strings_and_python_tags_refused() -> None:
    api = parse_openapi(_doc("  {}\n", "3.0.3").replace(b"version: '1'", b"version: 2024-05-01"))
    assert api.version == "2024-05-01"
    with pytest.raises(InvalidInput, match="not valid YAML"):
        parse_openapi(b"openapi: !!python/object/apply:os.system ['true']\n")


def test_anchors_without_aliases_are_fine() -> None:
    api = parse_openapi(_doc("  {}\n").replace(b"info:", b"info: &info"))
    assert api.title == "T"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(paths=json_values, version=st.sampled_from(["3.0.3", "3.1.0", "2.0"]))
def test_arbitrary_documents_only_ever_raise_invalid_input(paths: object, version: str) -> None:
    key = "swagger" if version == "2.0" else "openapi"
    doc = {key: version, "info": {"title": "T", "version": "1"}, "paths": paths}
    try:
        api = parse_openapi(json.dumps(doc).encode())
    except InvalidInput as exc:
        assert exc.detail
        assert exc.errors
    else:
        assert all(o.method.isupper() for o in api.operations)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_ever_raise_invalid_input(raw: bytes) -> None:
    with contextlib.suppress(InvalidInput):
        parse_openapi(raw)


@pytest.mark.parametrize(
    "raw",
    [b"!!int abc", b"!!float x", b"a: !!set {a}", b"!!binary aGVsbG8=", b"? [a]\n: 1", b"\x00"],
)
def test_odd_yaml_is_invalid_input(raw: bytes) -> None:
    with pytest.raises(InvalidInput, match="YAML|not accepted"):
        parse_openapi(raw)


def test_deep_block_nesting_refused() -> None:
    doc = "".join(f"{'  ' * i}k{i}:\n" for i in range(150)) + "  " * 150 + "leaf: 1\n"
    with pytest.raises(InvalidInput, match="nested more than 100 levels"):
        parse_openapi(doc.encode(), filename="x.yaml")


def test_deep_flow_nesting_refused_by_our_limit_before_any_parser() -> None:
    # Deep enough that the parsers' own limits (PyYAML's, json's recursion) would fire
    # with their own words; ours comes first, so the message is always ours.
    for doc, name in ((b"[" * 5000 + b"]" * 5000, "x.yaml"), (b"{" * 2000, "x.json")):
        with pytest.raises(InvalidInput, match="nested more than 100 levels deep"):
            parse_openapi(doc, filename=name)
