"""The layer contract (``.importlinter``, drawn in docs/architecture.md) holds, and it
catches what it is there to catch: each case copies the package, adds one offending
module and checks that ``lint-imports`` fails and names the offence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(src: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with the project's contract over the package in ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / ".importlinter"), "--no-cache"],
        cwd=src.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_keeps_every_contract() -> None:
    result = lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package source, checked once to keep every contract."""
    src = tmp_path_factory.mktemp("pristine") / "src"
    shutil.copytree(
        ROOT / "src" / "tollway", src / "tollway", ignore=shutil.ignore_patterns("__pycache__")
    )
    return src


OFFENCES = {
    "an upward import inside a function": (
        {"domain/_offence.py": "def late():\n    import tollway.api.app  # noqa\n"},
        "tollway.domain._offence -> tollway.api.app",
    ),
    "an upward import for type checking only": (
        {
            "store/_offence.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from tollway.services import sessions  # noqa\n"
            )
        },
        "tollway.store._offence -> tollway.services.sessions",
    ),
    "an import between independent siblings": (
        {"billing/_offence.py": "import tollway.gateway.app  # noqa\n"},
        "tollway.billing._offence -> tollway.gateway.app",
    ),
    "an I/O library in the pure core": (
        {"pricing/_offence.py": "import sqlalchemy  # noqa\n"},
        "tollway.pricing._offence -> sqlalchemy",
    ),
    "the Stripe SDK outside billing.stripe": (
        {"services/_offence.py": "import stripe  # noqa\n"},
        "tollway.services._offence -> stripe",
    ),
    "an HTTP adapter going past the services": (
        {"api/_offence.py": "from tollway.store import plans_repo  # noqa\n"},
        "tollway.api._offence -> tollway.store.plans_repo",
    ),
    "a package left out of the contract": (
        {"newpkg/__init__.py": ""},
        "tollway.newpkg",
    ),
    "an import cycle inside a layer": (
        {
            "services/_one.py": "from tollway.services import _two  # noqa\n",
            "services/_two.py": "from tollway.services import _one  # noqa\n",
        },
        "._one",
    ),
}


@pytest.mark.parametrize("offence", sorted(OFFENCES))
def test_the_contract_catches(offence: str, pristine: Path, tmp_path: Path) -> None:
    files, expected = OFFENCES[offence]
    src = tmp_path / "src"
    shutil.copytree(pristine, src)
    for name, text in files.items():
        path = src / "tollway" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    result = lint_imports(src)
    assert result.returncode != 0, f"{offence} was not caught:\n{result.stdout}"
    assert "BROKEN" in result.stdout
    assert expected in result.stdout, result.stdout


def contract_layers() -> list[list[str]]:
    """The layers of the contract, top first, each a list of package names."""
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    lines = config["importlinter:contract:layers"]["layers"].split("\n")
    return [
        [name.strip().strip("()") for name in line.split("|")] for line in lines if line.strip()
    ]


def test_the_picture_in_the_docs_shows_the_contract() -> None:
    """docs/architecture.md draws the layers; the drawing names the same packages in the
    same order as the contract (one row per layer)."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    picture = doc.split("## Layers", 1)[1].split("```", 2)[1]
    rows = [
        [
            word.strip("()")
            for word in line.split("│")[-1].split()
            if word.strip("()").isidentifier()
        ]
        for line in picture.splitlines()
    ]
    drawn = [row for row in rows if row]
    wanted = contract_layers()
    found = [
        [name for name in row if name in {n for layer in wanted for n in layer}] for row in drawn
    ]
    assert [row for row in found if row] == wanted
