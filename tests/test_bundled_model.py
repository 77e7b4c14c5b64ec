"""Guards on the bundled encoder: it loads with plain transformers, stays small, and stays good.

A bad re-train must not land: the public cloze set and the minimal-pair set
are scored here, with bars just under what the shipped model (version 3) scores
(`python -m mlm_explorer eval-cloze tests/data/cloze_public.jsonl`: top-1
0.58, top-5 0.84; `python -m mlm_explorer eval-pairs tests/data/minimal_pairs.tsv`:
0.987, 78 of 79). The slack is one item, for numeric noise across CPUs, not
for a worse model. Raise the bars (``mlm_explorer.showcase.SHIP_BARS``) when a
better model lands. The app's own
showcase (the Fill tab's first example, the Score tab's example pairs) is
what a class sees first, so it is guarded too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from mlm_explorer.cloze import evaluate_cloze, evaluate_pairs, read_cloze_file, read_pairs_file
from mlm_explorer.models import BUNDLED_MODEL_DIR, load_model
from mlm_explorer.showcase import SHIP_BARS

CLOZE = Path(__file__).parent / "data" / "cloze_public.jsonl"
PAIRS = Path(__file__).parent / "data" / "minimal_pairs.tsv"

# Just under the shipped model's scores (see the module docstring); pick_run.py uses them too.
CLOZE_TOP1_BAR, CLOZE_TOP5_BAR, PAIRS_BAR = SHIP_BARS.cloze_top1, SHIP_BARS.cloze_top5, SHIP_BARS.pairs


def test_bundled_folder_is_standard_small_and_documented() -> None:
    folder = Path(BUNDLED_MODEL_DIR)
    weights = list(folder.glob("*.safetensors"))
    assert weights, "assets/model must hold safetensors weights"
    assert sum(p.stat().st_size for p in folder.iterdir()) < 100 * 1024 * 1024
    assert not list(folder.glob("*.bin")), "no pickle weights"
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Apache" in card and "WordNet" in card
    # Version 2 learned from Wikipedia text (CC BY-SA 4.0): its attribution travels with the weights.
    assert "CC BY-SA 4.0" in card and "Wikipedia contributors" in (folder / "SOURCES.md").read_text(
        encoding="utf-8")
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
    assert result.top5 >= CLOZE_TOP5_BAR, f"public cloze top-5 fell to {result.top5:.2f}"
    assert result.top1 >= CLOZE_TOP1_BAR, f"public cloze top-1 fell to {result.top1:.2f}"


def test_bundled_model_prefers_grammatical_minimal_pairs() -> None:
    lm = load_model(str(BUNDLED_MODEL_DIR))
    result = evaluate_pairs(lm, read_pairs_file(PAIRS))
    assert result.n >= 60
    wrong = [o.pair.grammatical for o in result.outcomes if not o.correct]
    assert result.accuracy >= PAIRS_BAR, f"minimal pairs fell to {result.accuracy:.3f}; wrong: {wrong}"


def test_bundled_model_gets_the_apps_showcase_right() -> None:
    from mlm_explorer.showcase import FILL_EXAMPLES, check_showcase
    from mlm_explorer.ui.fill import EXAMPLES as FILL_TAB_EXAMPLES
    from mlm_explorer.ui.score import EXAMPLES as SCORE_TAB_EXAMPLES

    # the check covers what the tabs really offer
    assert FILL_TAB_EXAMPLES[0] == FILL_EXAMPLES[0] == "The capital of France is [MASK]."
    check = check_showcase(load_model(str(BUNDLED_MODEL_DIR)))
    assert [[p.grammatical, p.ungrammatical] for p in check.pairs] == SCORE_TAB_EXAMPLES
    assert check.passed, "; ".join(check.problems())
