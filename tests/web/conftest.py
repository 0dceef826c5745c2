"""A control-plane app with the page foundation and the style guide, over TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def web_app(tmp_path: Path) -> Iterator[Any]:
    from tollway.control_plane import create_app
    from tollway.runtime import build_context
    from tollway.settings import load_settings

    settings = load_settings(data_dir=tmp_path / "data", style_guide=True)
    ctx = build_context(settings)
    app = create_app(ctx)
    app.state.pages.make_strict()
    yield app
    ctx.engine.dispose()


@pytest.fixture
def client(web_app: Any) -> TestClient:
    return TestClient(web_app, raise_server_exceptions=False)
