"""The module map of the README holds: who may import whom (read from the source, nothing runs)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mlm_explorer"
RUNS_A_MODEL = {"models", "predict", "training", "finetune", "pretrain", "cloze"}


def project_imports() -> dict[str, set[str]]:
    """``{"finetune": {"data", "training", ...}, "ui.jobs": {...}}`` for every module of the package."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mlm_explorer."):
                deps.add(node.module.removeprefix("mlm_explorer."))
            elif isinstance(node, ast.Import):
                deps |= {a.name.removeprefix("mlm_explorer.") for a in node.names
                         if a.name.startswith("mlm_explorer.")}
        graph[name] = deps
    return graph


GRAPH = project_imports()


def test_the_library_never_imports_the_ui() -> None:
    for name, deps in GRAPH.items():
        if name.startswith("ui") or name == "cli":  # cli's `app` command starts the UI, lazily
            continue
        assert not {d for d in deps if d.startswith("ui")}, f"{name} imports the UI"


def test_training_logic_has_one_home() -> None:
    assert "training" in GRAPH["finetune"] and "training" in GRAPH["pretrain"]
    assert "pretrain" not in GRAPH["finetune"] and "finetune" not in GRAPH["pretrain"]
    assert not GRAPH["training"] & {"finetune", "pretrain", "data", "corpus"}


def test_figures_and_policies_never_run_a_model() -> None:
    for name in ("plots", "masking", "attention"):
        assert not GRAPH[name] & RUNS_A_MODEL, f"{name} imports {GRAPH[name] & RUNS_A_MODEL}"
