"""The showcase check (mlm_explorer.showcase): what a model does with the app's own examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlm_explorer.cloze import as_word
from mlm_explorer.models import load_model
from mlm_explorer.predict import predict, pseudo_log_likelihoods
from mlm_explorer.showcase import FILL_EXAMPLES, SCORE_EXAMPLES, PairCheck, ShowcaseCheck, check_showcase


def test_check_showcase_reports_the_models_own_figures(tiny_model_dir: Path) -> None:
    lm = load_model(str(tiny_model_dir))
    check = check_showcase(lm)
    top = predict(lm, FILL_EXAMPLES[0], top_k=1).predictions[0].top_k[0]
    assert check.fill_top1 == as_word(lm, top.id)  # a word, as the cloze evaluation compares them
    assert [(p.grammatical, p.ungrammatical) for p in check.pairs] == list(SCORE_EXAMPLES)
    for pair in check.pairs:
        good, bad = pseudo_log_likelihoods(lm, [pair.grammatical, pair.ungrammatical])
        assert pair.gap == pytest.approx(good.pll - bad.pll)
    assert check.to_dict()["passed"] is check.passed


def test_showcase_passes_only_when_everything_is_right() -> None:
    right = [PairCheck(g, b, 0.5) for g, b in SCORE_EXAMPLES]
    assert ShowcaseCheck("paris", tuple(right)).passed
    assert ShowcaseCheck("paris", tuple(right)).problems() == []
    located = ShowcaseCheck("located", tuple(right))
    assert not located.passed and located.problems() == [
        "'The capital of France is [MASK].' gives 'located', not 'paris'"]
    wrong = [*right[:1], PairCheck(*SCORE_EXAMPLES[1], -0.79), *right[2:]]
    check = ShowcaseCheck("paris", tuple(wrong))
    assert not check.passed
    assert check.problems() == ["prefers 'The author that the guards like laugh.' by 0.79 nats"]
    assert [p["gap"] for p in check.to_dict()["pairs"]] == [0.5, -0.79, 0.5]
    # a tie is no preference
    assert not ShowcaseCheck("paris", (PairCheck("a", "b", 0.0),)).passed


def test_showcase_imports_no_ui() -> None:
    # scripts/evaluate_run.py uses it on training machines that have no Gradio
    code = "import sys, mlm_explorer.showcase; print('gradio' in sys.modules, 'plotly' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout
    assert out.split() == ["False", "False"]
