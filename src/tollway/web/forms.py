"""Posted HTML forms: parse, validate with a pydantic model, put errors next to fields.

``read_form(request, Model)`` gives ``(model or None, FormState)``. The state holds what
the person typed (so the page re-renders with it) and the errors by field name. Field
names are the model's field names; nested values use dots (``tiers.0.up_to`` becomes
``{"tiers": [{"up_to": …}]}``), the same path a pydantic error or a domain
:class:`~tollway.domain.errors.InvalidInput` reports, so both land on the same field.
An empty input counts as "not given": required fields say so, optional ones get their
default. Errors for names that no posted field carries go to the form's summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from tollway.domain.errors import InvalidInput

from .csrf import CSRF_FIELD

M = TypeVar("M", bound=BaseModel)

_FRIENDLY = {
    "missing": "This field is required.",
    "int_parsing": "Enter a whole number.",
    "int_from_float": "Enter a whole number.",
    "decimal_parsing": "Enter a number, e.g. 12.50.",
    "float_parsing": "Enter a number.",
    "bool_parsing": "Choose yes or no.",
    "url_parsing": "Enter a full URL, e.g. https://api.example.com.",
    "url_scheme": "The URL must start with http:// or https://.",
}


def field_id(name: str) -> str:
    """The HTML id of the input for ``name`` (used by labels and the error summary)."""
    return "f-" + name.replace(".", "-")


def loc_name(loc: Iterable[str | int]) -> str:
    """``("tiers", 1, "up_to")`` -> ``"tiers.1.up_to"``."""
    return ".".join(str(part) for part in loc)


@dataclass
class FormState:
    """What a form shows: the values typed and the errors, by field name."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    posted: set[str] = field(default_factory=set)
    labels: dict[str, str] = field(default_factory=dict)

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def error(self, name: str) -> str | None:
        messages = self.errors.get(name)
        return " ".join(messages) if messages else None

    @property
    def has_errors(self) -> bool:
        return bool(self.errors)

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def summary(self) -> list[tuple[str | None, str]]:
        """Every error as ``(anchor id or None, message)``, named by its field's label."""
        out: list[tuple[str | None, str]] = []
        for name, messages in self.errors.items():
            anchor = field_id(name) if name in self.posted else None
            label = self.labels.get(name)
            out.extend((anchor, f"{label}: {m}" if label else m) for m in messages)
        return out

    def add_validation_error(
        self, exc: ValidationError, aliases: Mapping[str, str] | None = None
    ) -> None:
        for err in exc.errors():
            message = _FRIENDLY.get(err["type"]) or str(err["msg"]).removeprefix("Value error, ")
            self.add(_alias(loc_name(err["loc"]), aliases), message)

    def add_invalid_input(
        self, exc: InvalidInput, aliases: Mapping[str, str] | None = None
    ) -> None:
        """A domain/service refusal: each located error on its field, else the summary."""
        if not exc.errors:
            self.add("", exc.detail)
        for err in exc.errors:
            self.add(_alias(loc_name(err.loc), aliases), err.message)


def _alias(name: str, aliases: Mapping[str, str] | None) -> str:
    """Map a service's field path onto the form's name (longest matching prefix)."""
    if not aliases:
        return name
    for prefix in sorted(aliases, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "."):
            return (aliases[prefix] + name[len(prefix) :]).lstrip(".")
    return name


def unflatten(pairs: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted names to nested dicts; purely numeric segments make lists (in index order)."""
    root: dict[str, Any] = {}
    for name, value in pairs.items():
        node = root
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return {name: _lists(node) for name, node in root.items()}


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def form_data(request: Request) -> FormData:
    """The request's parsed form (parsed once, before the handler, by the page route)."""
    form = getattr(request.state, "form", None)
    if not isinstance(form, FormData):
        raise RuntimeError("read_form needs a POST handled by a PageRoute (it parses the form)")
    return form


def labels_of(model: type[BaseModel]) -> dict[str, str]:
    """Each field's ``title`` (``Field(title="Application name")``) or its humanized name."""
    return {
        name: info.title or name.replace("_", " ").capitalize()
        for name, info in model.model_fields.items()
    }


def read_form(
    request: Request, model: type[M], *, aliases: Mapping[str, str] | None = None
) -> tuple[M | None, FormState]:
    """Validate the posted form against ``model``; on failure the state carries the errors."""
    form = form_data(request)
    state = FormState(labels=labels_of(model))
    given: dict[str, Any] = {}
    for name in form:
        if name == CSRF_FIELD:
            continue
        state.posted.add(name)
        items = form.getlist(name)
        texts = [v for v in items if isinstance(v, str)]
        files = [v for v in items if isinstance(v, UploadFile)]
        if texts:
            state.values[name] = texts[-1]
        kept: list[Any] = [t for t in texts if t.strip() != ""] + files
        if kept:
            given[name] = kept if len(kept) > 1 else kept[0]
    try:
        return model.model_validate(unflatten(given)), state
    except ValidationError as exc:
        state.add_validation_error(exc, aliases)
        return None, state
