"""A page of a keyset-paginated list (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    has_more: bool
    next_cursor: str | None  # the last id of this page when there is more
