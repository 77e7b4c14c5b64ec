"""The installable package: every subpackage is shipped, the CLI is its console script, assets are found.

Building and installing the wheel itself is `.ci/check_package` (a fresh virtual
environment outside the repository), too slow for the unit tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlm_explorer import models
from mlm_explorer.cli import main

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "mlm_explorer").rglob("__init__.py")
    }
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert found <= listed, f"add to pyproject.toml [tool.setuptools] packages: {sorted(found - listed)}"


def test_dependencies_come_from_requirements_txt() -> None:
    assert "dependencies" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    assert PYPROJECT["project"]["scripts"]["mlm-explorer"] == "mlm_explorer.cli:main"


def test_assets_are_the_checkouts_here_and_shipped_under_the_package_name() -> None:
    assert models.find_assets() == ROOT / "assets"
    assert models.BUNDLED_MODEL_DIR == ROOT / "assets" / "model"
    mapped = PYPROJECT["tool"]["setuptools"]["package-dir"]
    assert mapped == {models.ASSETS_PACKAGE: "assets"}


def test_app_command_is_there(capsys) -> None:
    assert main(["app", "--help"]) == 0
    assert "--port" in capsys.readouterr().out


def test_app_command_launches_with_the_production_settings(monkeypatch) -> None:
    from mlm_explorer.ui import launch

    seen = {}
    monkeypatch.setattr(launch, "serve", lambda **kw: seen.update(kw))
    assert main(["app", "--port", "7999", "--host", "127.0.0.1"]) == 0
    assert seen == {"server_port": 7999, "server_name": "127.0.0.1"}
