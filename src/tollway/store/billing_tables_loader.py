"""Registers the billing tables on the shared metadata (the Alembic environment calls ``load``)."""

from __future__ import annotations


def load() -> None:
    import tollway.store.billing_tables  # noqa: F401  (defining the tables registers them)
