"""Import an OpenAPI 3.0 / 3.1 or Swagger 2.0 document into an API and its operations.

The document is loaded safely (:mod:`tollway.openapi._load`), checked for external
``$ref`` (refused: resolving them would fetch arbitrary URLs or files), validated with
``openapi-spec-validator``, and every validation problem is reported as an
:class:`InvalidInput` whose field locations say where the document is broken, e.g.
``paths./books/{id}.get.responses: 'nope' is not of type 'object'``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jsonschema_path import SchemaPath
from openapi_spec_validator import (
    OpenAPIV2SpecValidator,
    OpenAPIV30SpecValidator,
    OpenAPIV31SpecValidator,
)

from tollway.domain.errors import FieldError, InvalidInput
from tollway.openapi._load import load_document

DEFAULT_MAX_BYTES = 5_000_000
MAX_REPORTED_ERRORS = 20
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_SKIP_REF_SCAN = frozenset({"example", "default", "enum", "const"})

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ImportedOperation:
    method: str
    path_template: str
    operation_id: str | None
    summary: str | None


@dataclass(frozen=True, slots=True)
class ImportedApi:
    title: str
    version: str
    description: str | None
    base_path: str
    operations: list[ImportedOperation] = field(default_factory=list)
    usage_header: None = None
    spec_version: str = ""
    #: tag names: the document's ``tags`` list, then those its operations use (at most 20)
    tags: tuple[str, ...] = ()
    #: the whole document as JSON (YAML converted), kept to render the API reference
    document_json: str = ""


MAX_TAGS = 20


def parse_openapi(
    raw: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ImportedApi:
    """Parse and validate ``raw``; :class:`InvalidInput` says what is wrong and where."""
    doc = load_document(raw, filename=filename, content_type=content_type, max_bytes=max_bytes)
    if not isinstance(doc, dict):
        raise InvalidInput.at(
            ("document",), "the document must be an object (a mapping) at the top level"
        )
    validator_cls, spec_version = _pick_validator(doc)
    _refuse_external_refs(doc)
    _validate(doc, validator_cls)
    return _extract(doc, spec_version)


def _pick_validator(doc: Mapping[str, Any]) -> tuple[type[Any], str]:
    supported = "supported: OpenAPI 3.0.x, 3.1.x and Swagger 2.0"
    if "openapi" in doc:
        version = doc["openapi"]
        if not isinstance(version, str):
            raise InvalidInput.at(
                ("openapi",), f'must be a string such as "3.0.3" (quote it in YAML); {supported}'
            )
        if version.startswith("3.0.") or version == "3.0":
            return OpenAPIV30SpecValidator, version
        if version.startswith("3.1.") or version == "3.1":
            return OpenAPIV31SpecValidator, version
        raise InvalidInput.at(("openapi",), f"version {version!r} is not supported ({supported})")
    if "swagger" in doc:
        version = doc["swagger"]
        if version != "2.0":
            raise InvalidInput.at(
                ("swagger",), f"version {version!r} is not supported ({supported})"
            )
        return OpenAPIV2SpecValidator, "2.0"
    raise InvalidInput.at(
        ("openapi",),
        "missing: the document has neither an 'openapi' nor a 'swagger' version field; "
        "is this an OpenAPI document?",
    )


def _walk_refs(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str):
            yield (*loc, "$ref"), ref
        for k, v in value.items():
            if k in _SKIP_REF_SCAN or k.startswith("x-"):
                continue
            yield from _walk_refs(v, (*loc, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk_refs(v, (*loc, i))


def _resolve_pointer(doc: Any, pointer: str) -> bool:
    node = doc
    if pointer in ("", "/"):
        return pointer == ""
    for raw_part in pointer.lstrip("/").split("/"):
        part = raw_part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _refuse_external_refs(doc: dict[str, Any]) -> None:
    errors: list[FieldError] = []
    for loc, ref in _walk_refs(doc, ()):
        if not ref.startswith("#"):
            errors.append(
                FieldError(loc, f"external reference {ref!r} is not supported; inline it")
            )
        elif not _resolve_pointer(doc, ref[1:]):
            errors.append(FieldError(loc, f"reference {ref!r} points to nothing in the document"))
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    if errors:
        raise _invalid(errors)


def _invalid(errors: list[FieldError]) -> InvalidInput:
    first = errors[0]
    where = first.pointer
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    head = f"{where}: {first.message}" if where else first.message
    return InvalidInput(f"the OpenAPI document is invalid: {head}{more}", errors)


def _short(message: str) -> str:
    text = message.split("\n\n", 1)[0].strip()
    return text if len(text) <= 300 else text[:297] + "..."


def _deepest(error: Any) -> Any:  # a jsonschema ValidationError (untyped library)
    while error.context:
        error = max(error.context, key=lambda c: len(c.absolute_path))
    return error


def _field_error(error: Any) -> FieldError:
    best = _deepest(error)
    loc: Loc = tuple(p if isinstance(p, int) else str(p) for p in best.absolute_path)
    return FieldError(loc, _short(best.message))


def _validate(doc: dict[str, Any], validator_cls: type[Any]) -> None:
    # 1. the JSON schema of the specification: every structural error, with its location
    errors = [_field_error(e) for e in validator_cls.schema_validator.iter_errors(doc)]
    if errors:
        raise _invalid(errors[:MAX_REPORTED_ERRORS])
    # 2. the semantic checks (path parameters, unique operation ids, defaults, ...).
    # No resolver handlers: nothing outside the document is ever read.
    spec = SchemaPath.from_dict(doc, handlers={})
    try:
        for err in validator_cls(spec).iter_errors():
            errors.append(_field_error(err))
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
    except Exception as exc:  # the validator can trip on documents it did not expect
        if not errors:
            errors.append(FieldError((), f"the document could not be validated: {exc}"[:300]))
    if errors:
        raise _invalid(errors)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _server_base_path(doc: Mapping[str, Any]) -> str:
    servers = doc.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        return ""
    url = servers[0].get("url")
    if not isinstance(url, str):
        return ""
    variables = servers[0].get("variables")
    if isinstance(variables, dict):
        for name, spec in variables.items():
            if isinstance(spec, dict) and "default" in spec:
                url = url.replace("{" + name + "}", str(spec["default"]))
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    return _clean_base(path)


def _clean_base(path: str) -> str:
    path = path.strip().rstrip("/")
    if path and not path.startswith("/"):
        path = "/" + path
    return path


def _extract(doc: Mapping[str, Any], spec_version: str) -> ImportedApi:
    info = doc.get("info") or {}
    if spec_version == "2.0":
        base = doc.get("basePath")
        base_path = _clean_base(base) if isinstance(base, str) else ""
    else:
        base_path = _server_base_path(doc)
    operations: list[ImportedOperation] = []
    tags = [
        t["name"]
        for t in doc.get("tags") or []
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    ]
    paths = doc.get("paths") or {}
    for template, item in paths.items():
        if not isinstance(item, dict) or template.startswith("x-"):
            continue
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            tags.extend(t for t in op.get("tags") or [] if isinstance(t, str))
            operations.append(
                ImportedOperation(
                    method=method.upper(),
                    path_template=template,
                    operation_id=_text(op.get("operationId")),
                    summary=_text(op.get("summary")),
                )
            )
    return ImportedApi(
        title=str(info.get("title", "")),
        version=str(info.get("version", "")),
        description=_text(info.get("description")),
        base_path=base_path,
        operations=operations,
        spec_version=spec_version,
        tags=tuple(dict.fromkeys(t.strip()[:50] for t in tags if t.strip()))[:MAX_TAGS],
        document_json=json.dumps(doc, default=str, separators=(",", ":")),
    )
