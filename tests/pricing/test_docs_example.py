"""The "Embedding the pricing core" example of docs/pricing.md runs as written."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "pricing.md"


def embedding_example() -> str:
    section = DOC.read_text().split("## Embedding the pricing core", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_embedding_example_runs_and_prints_the_invoice() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(embedding_example(), str(DOC), "exec"), {})  # noqa: S102
    printed = out.getvalue()
    assert "total 15.00" in printed, printed
    assert "per month" in printed, printed
