"""Shared fixtures: tiny checkpoints built once per test session, offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never reach a hub: a load that would download must fail fast instead.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from tests.tiny_models import build_tiny_bert, build_tiny_roberta  # noqa: E402


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with a tiny BERT masked LM (WordPiece, ``[MASK]``)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_roberta_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with a tiny RoBERTa masked LM (byte-level BPE, ``<mask>``)."""
    return build_tiny_roberta(tmp_path_factory.mktemp("tiny_roberta"))


@pytest.fixture(scope="session", params=["bert", "roberta"])
def tiny_model_dir(request: pytest.FixtureRequest, tiny_bert_dir: Path, tiny_roberta_dir: Path) -> Path:
    """Both tiny families, for tests that must hold for every tokenizer kind."""
    return tiny_bert_dir if request.param == "bert" else tiny_roberta_dir
