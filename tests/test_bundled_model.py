"""Guards on the bundled encoder: it loads with plain transformers, stays small, and stays good.

A bad re-train must not land: the public cloze score is checked here (the
bar is a little under the shipped model's 0.76 top-5, to allow for numeric
noise across CPUs, not for a worse model).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from mlm_explorer.cloze import evaluate_cloze, read_cloze_file
from mlm_explorer.models import BUNDLED_MODEL_DIR, load_model

CLOZE = Path(__file__).parent / "data" / "cloze_public.jsonl"


def test_bundled_folder_is_standard_small_and_documented() -> None:
    folder = Path(BUNDLED_MODEL_DIR)
    weights = list(folder.glob("*.safetensors"))
    assert weights, "assets/model must hold safetensors weights"
    assert sum(p.stat().st_size for p in folder.iterdir()) < 100 * 1024 * 1024
    assert not list(folder.glob("*.bin")), "no pickle weights"
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Apache" in card and "WordNet" in card
    assert "Princeton University" in (folder / "LICENSE-WORDNET").read_text(encoding="utf-8")
    model = AutoModelForMaskedLM.from_pretrained(folder, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(folder)
    assert tok.mask_token == "[MASK]" and model.config.vocab_size == len(tok)
    # the MLM decoder is tied to the input embeddings (one matrix, as in BERT)
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


@pytest.mark.slow
def test_bundled_model_public_cloze_score() -> None:
    lm = load_model(str(BUNDLED_MODEL_DIR))
    result = evaluate_cloze(lm, read_cloze_file(CLOZE), k=5)
    assert result.n == 50
    assert result.top5 >= 0.55, f"public cloze top-5 fell to {result.top5:.2f}"
    assert result.top1 >= 0.30, f"public cloze top-1 fell to {result.top1:.2f}"
