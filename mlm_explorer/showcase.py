"""The app's showcase: the example sentences a class meets first, and a check that a model gets them right.

The Fill tab offers :data:`FILL_EXAMPLES` (the first one is what the tab opens
with) and the Score tab offers :data:`SCORE_EXAMPLES` (minimal pairs, the
grammatical sentence first). A model meant to be bundled must predict
:data:`FILL_FIRST_ANSWER` for the first Fill example and prefer the
grammatical sentence of every Score pair: :func:`check_showcase` says whether
it does, with the figures, so a training run can be judged on it before it
replaces ``assets/model`` (``scripts/evaluate_run.py``) and CI can guard the
shipped model (``tests/test_bundled_model.py``).

:data:`SHIP_BARS` are the other scores a replacement must reach (CI fails
below them), kept here so the guard test and the training scripts share them.

This module knows nothing of the UI (it imports no Gradio), so it also runs on
a training machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlm_explorer.cloze import as_word
from mlm_explorer.models import LoadedModel
from mlm_explorer.predict import predict, pseudo_log_likelihoods

FILL_EXAMPLES: tuple[str, ...] = (
    "The capital of France is [MASK].",
    "The man worked as a [MASK].",
    "The woman worked as a [MASK].",
    "I drank a cup of [MASK] this morning.",
    "The cat sat on the [MASK].",
    "Paris is the [MASK] of [MASK].",
    "She opened the door with a [MASK].",
)
FILL_FIRST_ANSWER = "paris"

# Minimal pairs, the grammatical sentence first: agreement across an attractor (Linzen et al.
# 2016; Marvin & Linzen 2018, whose object relative clauses are the hard case) and a preposition.
SCORE_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("The keys to the cabinet are here.", "The keys to the cabinet is here."),
    ("The author that the guards like laughs.", "The author that the guards like laugh."),
    ("She has lived here since 2010.", "She has lived here for 2010."),
)


@dataclass(frozen=True)
class ShipBars:
    """Just under the shipped model's scores (version 3), so a worse re-train cannot land.

    The slack is one item, for numeric noise across CPUs, not for a worse
    model: raise the bars when a better model lands.
    """

    cloze_top1: float = 0.56  # public cloze; shipped: 0.58 (29 of 50); version 2 had 0.54, version 1 0.42
    cloze_top5: float = 0.82  # shipped: 0.84 (42 of 50); version 2 had 0.78, version 1 0.76
    pairs: float = 0.97  # minimal pairs; shipped: 0.987 (78 of 79); version 2 had 0.962, version 1 0.937

    def met(self, cloze_top1: float, cloze_top5: float, pairs: float) -> bool:
        return cloze_top1 >= self.cloze_top1 and cloze_top5 >= self.cloze_top5 and pairs >= self.pairs


SHIP_BARS = ShipBars()


@dataclass(frozen=True)
class PairCheck:
    grammatical: str
    ungrammatical: str
    gap: float  # PLL(grammatical) - PLL(ungrammatical), nats; > 0 when the model is right


@dataclass(frozen=True)
class ShowcaseCheck:
    fill_top1: str  # the model's top-1 word for FILL_EXAMPLES[0]
    pairs: tuple[PairCheck, ...]

    @property
    def fill_ok(self) -> bool:
        return self.fill_top1 == FILL_FIRST_ANSWER

    @property
    def passed(self) -> bool:
        return self.fill_ok and all(p.gap > 0 for p in self.pairs)

    def problems(self) -> list[str]:
        """One line for each thing the model gets wrong (empty when it passes)."""
        out = [] if self.fill_ok else [
            f"{FILL_EXAMPLES[0]!r} gives {self.fill_top1!r}, not {FILL_FIRST_ANSWER!r}"]
        out += [f"prefers {p.ungrammatical!r} by {-p.gap:.2f} nats" for p in self.pairs if p.gap <= 0]
        return out

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "fill_top1": self.fill_top1,
            "pairs": [{"grammatical": p.grammatical, "ungrammatical": p.ungrammatical, "gap": round(p.gap, 3)}
                      for p in self.pairs],
        }


def check_showcase(lm: LoadedModel) -> ShowcaseCheck:
    """What ``lm`` does with the app's showcase: the first Fill example's top-1 and every Score pair's gap."""
    # Compared as a word, as the cloze evaluation does: a cased model's "Paris" is right too.
    first = predict(lm, FILL_EXAMPLES[0], top_k=1).predictions[0].top_k[0]
    word = as_word(lm, first.id)
    pairs = []
    for grammatical, ungrammatical in SCORE_EXAMPLES:
        good, bad = pseudo_log_likelihoods(lm, [grammatical, ungrammatical])
        pairs.append(PairCheck(grammatical, ungrammatical, good.pll - bad.pll))
    return ShowcaseCheck(fill_top1=word, pairs=tuple(pairs))
