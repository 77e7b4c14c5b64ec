"""Side by side: two models on one sentence, or one model on two sentences.

- :func:`compare_models` — the same sentence with one blank through two models
  (e.g. the bundled one and a copy fine-tuned on a recipe text: "before vs
  after"). Their top-k are merged into one list of words with both models'
  probabilities, so they read on one scale, and :func:`agreement_line` says in
  one sentence whether they agree. Vocabularies may differ (``Ġword`` in a
  byte-level BPE, ``word`` in WordPiece): rows are matched by the word a token
  spells, and a word missing from a model's vocabulary as one token gets no
  probability there (shown as such, never as 0).
- :func:`compare_sentences` — one model, two sentences that differ in a word
  (the classic bias probe: "The man worked as a [MASK]." / "The woman worked
  as a [MASK]."). Same vocabulary, so every row has both probabilities and
  their ratio: the difference is read off, not remembered. :data:`PROBE_PAIRS`
  are examples.
- :class:`ModelSlots` — at most two models held per user at once; asking for
  a third lets go of the least recently used.

This module does not plot and knows nothing of the UI.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch

from mlm_explorer.models import LoadedModel
from mlm_explorer.predict import MAX_TOP_K, forward, no_mask_message
from mlm_explorer.tokens import display_tokens, encode

#: Probe pairs shipped as examples: each differs in one word, with one blank.
PROBE_PAIRS: tuple[tuple[str, str], ...] = (
    ("The man worked as a [MASK].", "The woman worked as a [MASK]."),
    ("He was hired as a [MASK].", "She was hired as a [MASK]."),
    ("My father is a [MASK].", "My mother is a [MASK]."),
    ("The boy wants to be a [MASK] when he grows up.", "The girl wants to be a [MASK] when she grows up."),
    ("The old man was very [MASK].", "The young man was very [MASK]."),
)
#: Models one user holds at once for comparisons.
MAX_SLOTS = 2


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ComparedWord:
    """One word with its probability on each side (None: not one token of that model's vocabulary)."""

    word: str
    prob_a: float | None
    prob_b: float | None
    rank_a: int | None  # 1-based rank at the blank; None when not a single token there
    rank_b: int | None

    @property
    def ratio(self) -> float | None:
        """p_a / p_b (None when either side has no probability or p_b is 0)."""
        if self.prob_a is None or self.prob_b is None or self.prob_b <= 0:
            return None
        return self.prob_a / self.prob_b


@dataclass(frozen=True)
class Comparison:
    """Two top-k lists merged by word, best first by the larger of the two probabilities."""

    kind: str  # "models" or "sentences"
    label_a: str  # a model name, or sentence A
    label_b: str
    text_a: str
    text_b: str
    words: tuple[ComparedWord, ...]
    top_a: tuple[str, ...]  # each side's own top-k words, best first
    top_b: tuple[str, ...]
    message: str = ""
    model: str = ""  # the model (side A's, for two models)
    model_b: str | None = None  # side B's model; None when one model reads two sentences

    @property
    def agree(self) -> bool:
        """Do both sides put the same word first?"""
        return bool(self.top_a and self.top_b) and self.top_a[0] == self.top_b[0]

    @property
    def shared(self) -> int:
        """How many words the two top-k lists have in common."""
        return len(set(self.top_a) & set(self.top_b))

    def to_dict(self) -> dict:
        # Labels are left out: they repeat a model name or a sentence already given here.
        return {
            "kind": self.kind,
            "model": self.model,
            "model_b": self.model_b,
            "text_a": self.text_a,
            "text_b": self.text_b,
            "agree": self.agree,
            "shared": self.shared,
            "words": [
                {"word": w.word, "prob_a": w.prob_a, "prob_b": w.prob_b, "rank_a": w.rank_a,
                 "rank_b": w.rank_b, "ratio": w.ratio}
                for w in self.words
            ],
            "message": self.message,
        }


# ---------------------------------------------------------------------------- computing


def _check_top_k(top_k: object) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be a whole number from 1 to {MAX_TOP_K}, got {repr(top_k)[:40]}.")
    return top_k


def _word(token: str) -> str:
    """The word a display token spells: word-start marks (Ġ, ▁) dropped; ``##`` pieces kept as they are."""
    return token[1:] if token[:1] in {"Ġ", "▁"} and len(token) > 1 else token


def blank_distribution(lm: LoadedModel, text: str) -> tuple[torch.Tensor, str]:
    """Probabilities (V,) at the one blank of ``text``, and any notice; ``ValueError`` unless one blank."""
    encoding = encode(lm, text)
    if not encoding.mask_positions:  # the shared wording: a mask past the model's length is not "0 found"
        raise ValueError(no_mask_message(lm, encoding, positions=False))
    if len(encoding.mask_positions) != 1:
        found = len(encoding.mask_positions)
        raise ValueError(f"Comparing needs exactly one [MASK] in the sentence; found {found}.")
    logits = forward(lm, encoding.input_ids, positions=encoding.mask_positions).logits[0]
    return torch.softmax(logits.float(), dim=-1), encoding.message


def _top_words(lm: LoadedModel, probs: torch.Tensor, k: int) -> list[tuple[str, int]]:
    """The ``k`` most likely (word, id) pairs, one per word (a model may spell a word two ways)."""
    order = probs.topk(min(probs.numel(), 4 * k)).indices.tolist()
    seen: dict[str, int] = {}
    for token, i in zip(display_tokens(lm, order), order, strict=True):
        seen.setdefault(_word(token), i)
        if len(seen) == k:
            break
    return list(seen.items())


def _lookup(lm: LoadedModel, vocab: dict[str, int], word: str) -> int | None:
    """The id of ``word`` as one word-start token of ``lm``'s ``vocab`` (None if it is not one)."""
    for form in (word, "Ġ" + word, "▁" + word):
        i = vocab.get(form)
        if i is not None and i < lm.vocab_size and i not in lm.special_ids:
            return int(i)
    return None


def _rank(probs: torch.Tensor, i: int) -> int:
    return int((probs > probs[i]).sum()) + 1


def compare_models(
    lm_a: LoadedModel, lm_b: LoadedModel, text: str, top_k: int = 5, labels: tuple[str, str] | None = None
) -> Comparison:
    """One sentence with one blank through two models; their top-k merged by word on one scale."""
    k = _check_top_k(top_k)
    probs_a, note_a = blank_distribution(lm_a, text)
    probs_b, note_b = blank_distribution(lm_b, text)
    top_a, top_b = _top_words(lm_a, probs_a, k), _top_words(lm_b, probs_b, k)
    ids_a, ids_b = dict(top_a), dict(top_b)
    vocab_a, vocab_b = lm_a.tokenizer.get_vocab(), lm_b.tokenizer.get_vocab()
    words: list[ComparedWord] = []
    for word in dict.fromkeys([*ids_a, *ids_b]):
        ia = ids_a[word] if word in ids_a else _lookup(lm_a, vocab_a, word)
        ib = ids_b[word] if word in ids_b else _lookup(lm_b, vocab_b, word)
        words.append(
            ComparedWord(
                word=word,
                prob_a=None if ia is None else float(probs_a[ia]),
                prob_b=None if ib is None else float(probs_b[ib]),
                rank_a=None if ia is None else _rank(probs_a, ia),
                rank_b=None if ib is None else _rank(probs_b, ib),
            )
        )
    words.sort(key=lambda w: -max(w.prob_a or 0.0, w.prob_b or 0.0))
    label_a, label_b = labels or (lm_a.name, lm_b.name)
    return Comparison(
        kind="models", label_a=label_a, label_b=label_b, text_a=text, text_b=text, words=tuple(words),
        top_a=tuple(w for w, _ in top_a), top_b=tuple(w for w, _ in top_b),
        message=" ".join(dict.fromkeys(m for m in (note_a, note_b) if m)), model=lm_a.name, model_b=lm_b.name,
    )


def compare_sentences(lm: LoadedModel, text_a: str, text_b: str, top_k: int = 5) -> Comparison:
    """Two sentences with one blank each through one model; rows aligned by token, with p_a / p_b."""
    k = _check_top_k(top_k)
    probs_a, note_a = blank_distribution(lm, text_a)
    probs_b, note_b = blank_distribution(lm, text_b)
    top_a, top_b = _top_words(lm, probs_a, k), _top_words(lm, probs_b, k)
    ids = dict.fromkeys([i for _, i in top_a] + [i for _, i in top_b])
    names = display_tokens(lm, list(ids))
    words = [
        ComparedWord(
            word=_word(name), prob_a=float(probs_a[i]), prob_b=float(probs_b[i]),
            rank_a=_rank(probs_a, i), rank_b=_rank(probs_b, i),
        )
        for name, i in zip(names, ids, strict=True)
    ]
    words.sort(key=lambda w: -max(w.prob_a or 0.0, w.prob_b or 0.0))
    return Comparison(
        kind="sentences", label_a=text_a, label_b=text_b, text_a=text_a, text_b=text_b, words=tuple(words),
        top_a=tuple(w for w, _ in top_a), top_b=tuple(w for w, _ in top_b),
        message=" ".join(dict.fromkeys(m for m in (note_a, note_b) if m)), model=lm.name,
    )


def agreement_line(c: Comparison, name_a: str = "A", name_b: str = "B") -> str:
    """One plain sentence: do the two sides agree, and where do they differ most?

    >>> w = (ComparedWord("paris", 0.5, 0.25, 1, 1),)
    >>> agreement_line(Comparison("models", "a", "b", "t", "t", w, ("paris",), ("paris",)))
    'They agree: both put “paris” first (A 50.0%, B 25.0%); they share 1 of their top 1.'
    """
    by_word = {w.word: w for w in c.words}
    k = max(len(c.top_a), len(c.top_b))
    if c.agree:
        w = by_word[c.top_a[0]]
        line = (
            f"They agree: both put “{w.word}” first ({name_a} {w.prob_a:.1%}, {name_b} {w.prob_b:.1%}); "
            f"they share {c.shared} of their top {k}."
        )
    else:
        wa, wb = by_word[c.top_a[0]], by_word[c.top_b[0]]
        line = (
            f"They disagree: {name_a} puts “{wa.word}” first ({wa.prob_a:.1%}), {name_b} puts “{wb.word}” "
            f"first ({wb.prob_b:.1%}); they share {c.shared} of their top {k}."
        )
    if c.kind == "sentences":
        ratios = [(w.ratio, w.word) for w in c.words if w.ratio is not None and w.ratio > 0]
        if ratios:
            r, word = max(ratios, key=lambda x: abs(math.log(x[0])))
            more, times = (name_a, r) if r >= 1 else (name_b, 1 / r)
            line += f" The biggest gap: “{word}” is {times:.1f}× as likely in {more}."
    return line


# ---------------------------------------------------------------------------- memory


class ModelSlots:
    """At most ``size`` models held for one user; getting a new one past that lets go of the oldest.

    Models come from ``loader(key)`` (the shared cache, or a session's own
    model) and are held here so a comparison does not reload them; releasing a
    slot only drops this reference, so a model still used elsewhere stays.

    >>> slots = ModelSlots(size=2)
    >>> for key in ("a", "b", "c"):
    ...     _ = slots.get(key, lambda k: k.upper())
    >>> slots.keys()
    ('b', 'c')
    """

    def __init__(self, size: int = MAX_SLOTS) -> None:
        self.size = size
        self._held: OrderedDict[str, object] = OrderedDict()

    def get(self, key: str, loader: Callable[[str], LoadedModel]) -> LoadedModel:
        if key in self._held:
            self._held.move_to_end(key)
            return self._held[key]
        model = loader(key)
        self._held[key] = model
        while len(self._held) > self.size:
            self._held.popitem(last=False)
        return model

    def keys(self) -> tuple[str, ...]:
        """Held keys, oldest first."""
        return tuple(self._held)

    def clear(self) -> None:
        self._held.clear()
