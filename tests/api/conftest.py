"""Fixtures of the control-plane API tests: ``cat`` builds objects through the API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.catalog import Catalog


@pytest.fixture
def cat(admin: Any, make_actor: Any) -> Catalog:
    return Catalog(admin, make_actor)
