"""Imports optional table modules so they register on the shared metadata."""

from __future__ import annotations

import importlib


def load() -> None:
    for name in ("tollway.store.billing_tables",):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
