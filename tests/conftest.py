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


@pytest.fixture(scope="session")
def tiny_distilbert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with a tiny DistilBERT masked LM (WordPiece, a head of four modules)."""
    from tests.tiny_models import build_tiny_distilbert

    return build_tiny_distilbert(tmp_path_factory.mktemp("tiny_distilbert"))


@pytest.fixture(scope="session")
def tiny_albert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with a tiny ALBERT masked LM (SentencePiece-style ``▁``, factorised embeddings)."""
    from tests.tiny_models import build_tiny_albert

    return build_tiny_albert(tmp_path_factory.mktemp("tiny_albert"))


@pytest.fixture(scope="session", params=["bert", "distilbert", "roberta", "albert"])
def tiny_family_dir(
    request: pytest.FixtureRequest, tiny_bert_dir: Path, tiny_roberta_dir: Path,
    tiny_distilbert_dir: Path, tiny_albert_dir: Path,
) -> Path:
    """All four families (WordPiece ×2, byte-level BPE, SentencePiece), for the "inside" views."""
    return {
        "bert": tiny_bert_dir, "distilbert": tiny_distilbert_dir,
        "roberta": tiny_roberta_dir, "albert": tiny_albert_dir,
    }[request.param]


@pytest.fixture()
def looked_session(tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """Make UI sessions on the tiny BERT whose page reported a given ``plots.Look``; released after."""
    from mlm_explorer.ui import look
    from mlm_explorer.ui.common import new_session

    monkeypatch.setenv("MLM_EXPLORER_MODEL", str(tiny_bert_dir))
    monkeypatch.setenv("MLM_EXPLORER_ALLOW_LOCAL_PATHS", "1")
    made = []

    def make(page):
        session = new_session()
        session.extras[look.LOOK_KEY] = page
        made.append(session)
        return session

    yield make
    for session in made:
        session.release()


@pytest.fixture(scope="module")
def browser_app(tiny_bert_dir: Path):
    """(Chromium, URL of the app on the tiny BERT): one of each per test module that asks."""
    from playwright import sync_api

    from tests.app_server import running_app
    from tests.browser_support import CHROMIUM, LAUNCH_ARGS

    with running_app(tiny_bert_dir) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        sync_api.expect.set_options(timeout=60_000)  # fine-tuning and 390 px layouts are slow to settle
        yield browser, url
        browser.close()
