"""The portal's templates (Jinja2, autoescaped)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

templates = Environment(
    loader=PackageLoader("tollway.portal", "templates"), autoescape=select_autoescape()
)


def render(name: str, **values: Any) -> str:
    return templates.get_template(name).render(**values)
