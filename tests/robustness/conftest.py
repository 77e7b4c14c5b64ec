"""Hypothesis profiles for the robustness suite.

``ci`` (the default) keeps the whole suite well under two minutes on a busy
two-core machine; ``thorough`` runs many more examples for a local hunt:
``HYPOTHESIS_PROFILE=thorough python -m pytest tests/robustness``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gradio_client import Client
from hypothesis import HealthCheck, settings

from tests.app_server import running_app

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,  # a busy CI machine makes per-example timing meaningless; hangs are caught per call
    derandomize=True,  # the same examples on every run: a red CI is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# Every API module drives its own app on the tiny BERT, with folder paths refused as on a Space.
@pytest.fixture(scope="module")
def server(tiny_bert_dir: Path):
    with running_app(tiny_bert_dir, allow_local_paths=False) as url:
        yield url


@pytest.fixture(scope="module")
def client(server: str) -> Client:
    return Client(server, verbose=False)
