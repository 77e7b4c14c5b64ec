"""Cloze and minimal-pair evaluation.

Cloze: top-1 / top-5 accuracy on sentences with one blank.

The file format is JSON lines, one item per line::

    {"text": "The capital of France is [MASK].", "answers": ["paris"]}

An item counts as correct at k when one of the model's k most likely tokens
at the (first) mask equals one of the answers, compared as words: the
tokenizer's word-start marks (``Ġ``, ``▁``) and surrounding spaces are
removed and case is ignored, so cased and uncased models are judged alike.
A word-piece continuation (``##s``) never matches a whole-word answer.

Minimal pairs: a tab-separated file, one pair a line, the grammatical
sentence first, an optional phenomenon label third (a header line starting
``grammatical`` and lines starting ``#`` are skipped)::

    The keys to the cabinet are here.<TAB>The keys to the cabinet is here.<TAB>agreement_attractor

A pair counts as correct when the grammatical sentence has the higher
pseudo-log-likelihood (Salazar et al., 2020, "Masked Language Model
Scoring"; the sum, as BLiMP's evaluation of MLMs does), computed with
:func:`mlm_explorer.predict.pseudo_log_likelihood`.

Held-out masked-token accuracy: BERT's own objective on held-out lines (one
line per row, 15% of tokens selected, 80/10/10, a fixed seed), so a corpus's
per-source held-out files can be scored one by one.

This module does not draw anything; the CLI's ``eval-cloze`` and
``eval-pairs`` print the results.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlm_explorer.models import LoadedModel
from mlm_explorer.predict import Candidate, predict, pseudo_log_likelihoods

#: Refuse to read cloze files larger than this (they are small hand-made lists).
MAX_CLOZE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class ClozeItem:
    text: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class ClozeOutcome:
    text: str
    answers: tuple[str, ...]
    words: tuple[str, ...]  # the model's words, most likely first ("" for a word piece): what is matched
    rank: int | None  # 1-based rank of the first answer among words, None if absent
    top_k: tuple[Candidate, ...] = ()  # the same guesses as tokens with ids and probabilities


@dataclass(frozen=True)
class ClozeResult:
    model: str
    n: int
    top1: float
    top5: float
    outcomes: tuple[ClozeOutcome, ...]
    message: str = ""  # a notice (items with several blanks), or ""

    @property
    def hits1(self) -> int:
        return sum(o.rank == 1 for o in self.outcomes)

    @property
    def hits5(self) -> int:
        return sum(o.rank is not None and o.rank <= 5 for o in self.outcomes)

    def to_dict(self) -> dict:
        # Shares (top1, top5) with their counts beside them, and the candidates in the one shape
        # every command uses ({"token", "id", "prob"}), as the quiz does.
        return {
            "model": self.model,
            "n": self.n,
            "top1": self.top1,
            "top5": self.top5,
            "hits1": self.hits1,
            "hits5": self.hits5,
            "message": self.message,
            "items": [
                {"text": o.text, "answers": list(o.answers), "top_k": [c.to_dict() for c in o.top_k],
                 "rank": o.rank}
                for o in self.outcomes
            ],
        }


def read_cloze_file(path: Path | str) -> list[ClozeItem]:
    """Parse a cloze JSONL file; raises ``ValueError`` naming the file and line on any problem."""
    path = Path(path)
    raw = _read_small_text(path, "cloze")
    items = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{path}, line {number}: not valid JSON.") from None
        text = record.get("text") if isinstance(record, dict) else None
        answers = record.get("answers") if isinstance(record, dict) else None
        if isinstance(answers, str):
            answers = [answers]
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f'{path}, line {number}: needs a non-empty "text".')
        if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
            raise ValueError(f'{path}, line {number}: "answers" must be a non-empty list of strings.')
        items.append(ClozeItem(text=text, answers=tuple(answers)))
    if not items:
        raise ValueError(f"{path} has no items.")
    return items


def as_word(lm: LoadedModel, token_id: int) -> str:
    """The word a vocabulary entry spells, lower-cased without its word-start mark ("" for a ``##`` piece)."""
    token = lm.tokenizer.convert_ids_to_tokens(int(token_id))
    if token is None or token.startswith("##"):
        return ""  # a WordPiece continuation is never a whole word
    return lm.tokenizer.convert_tokens_to_string([token]).strip().lower()


def evaluate_cloze(lm: LoadedModel, items: Sequence[ClozeItem], k: int = 5) -> ClozeResult:
    """Top-1 and top-``k`` accuracy over ``items`` (each needs a mask in its text)."""
    outcomes, several = [], []
    for n, item in enumerate(items, start=1):
        try:
            result = predict(lm, item.text, top_k=k)
        except ValueError as err:
            raise ValueError(f"item {n} ({item.text[:40]!r}): {err}") from None
        if len(result.predictions) > 1:  # one answer list scores one blank: the others go unscored
            several.append(n)
        first = result.predictions[0]
        words = tuple(as_word(lm, c.id) for c in first.top_k)
        answers = {a.strip().lower() for a in item.answers}
        rank = next((r for r, w in enumerate(words, start=1) if w and w in answers), None)
        outcomes.append(ClozeOutcome(item.text, item.answers, words, rank, top_k=first.top_k))
    total = len(outcomes)
    message = (
        f"{len(several)} item(s) have more than one [MASK] (item {', '.join(map(str, several[:10]))}"
        f"{', …' if len(several) > 10 else ''}); only the first blank of each is scored."
        if several else ""
    )
    return ClozeResult(
        model=lm.name,
        n=total,
        top1=sum(o.rank == 1 for o in outcomes) / total,
        top5=sum(o.rank is not None and o.rank <= 5 for o in outcomes) / total,
        outcomes=tuple(outcomes),
        message=message,
    )


# ---------------------------------------------------------------------------- minimal pairs


@dataclass(frozen=True)
class MinimalPair:
    grammatical: str
    ungrammatical: str
    phenomenon: str = ""  # e.g. "agreement_attractor"; empty when the file has no third column


@dataclass(frozen=True)
class PairOutcome:
    pair: MinimalPair
    pll_grammatical: float  # natural-log pseudo-log-likelihood (a sum over tokens)
    pll_ungrammatical: float

    @property
    def correct(self) -> bool:
        """The grammatical sentence is strictly more likely (a tie counts as wrong)."""
        return self.pll_grammatical > self.pll_ungrammatical

    @property
    def margin(self) -> float:
        """PLL(grammatical) - PLL(ungrammatical), in nats."""
        return self.pll_grammatical - self.pll_ungrammatical


@dataclass(frozen=True)
class PhenomenonScore:
    phenomenon: str
    n: int
    accuracy: float


@dataclass(frozen=True)
class PairsResult:
    model: str
    n: int
    accuracy: float  # share of pairs where the grammatical sentence has the higher PLL
    by_phenomenon: tuple[PhenomenonScore, ...]  # in the file's order of first appearance
    outcomes: tuple[PairOutcome, ...]

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "n": self.n,
            "accuracy": self.accuracy,
            "by_phenomenon": {p.phenomenon: {"n": p.n, "accuracy": p.accuracy} for p in self.by_phenomenon},
            "pairs": [
                {
                    "grammatical": o.pair.grammatical,
                    "ungrammatical": o.pair.ungrammatical,
                    "phenomenon": o.pair.phenomenon,
                    "pll_grammatical": o.pll_grammatical,
                    "pll_ungrammatical": o.pll_ungrammatical,
                    "correct": o.correct,
                }
                for o in self.outcomes
            ],
        }


def _read_small_text(path: Path, what: str) -> str:
    """The UTF-8 text of a small cloze or pairs file; ``ValueError`` with a plain reason otherwise."""
    from mlm_explorer.data import read_limited

    try:
        # A regular file, at most MAX_CLOZE_BYTES actually read (st_size is 0 for /dev/zero).
        return read_limited(path, MAX_CLOZE_BYTES).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"Cannot read {path}: it is not UTF-8 text.") from None


def read_pairs_file(path: Path | str) -> list[MinimalPair]:
    """Parse a minimal-pair TSV file; raises ``ValueError`` naming the file and line on any problem."""
    path = Path(path)
    raw = _read_small_text(path, "minimal-pair")
    pairs = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in line.split("\t")]
        if number == 1 and cells[0].lower() == "grammatical":
            continue  # header
        if len(cells) not in (2, 3) or not cells[0] or not cells[1]:
            raise ValueError(
                f"{path}, line {number}: expected grammatical<TAB>ungrammatical[<TAB>phenomenon]."
            )
        if cells[0] == cells[1]:
            raise ValueError(f"{path}, line {number}: the two sentences are the same.")
        pairs.append(MinimalPair(cells[0], cells[1], cells[2] if len(cells) == 3 else ""))
    if not pairs:
        raise ValueError(f"{path} has no pairs.")
    return pairs


def evaluate_pairs(lm: LoadedModel, pairs: Sequence[MinimalPair], batch_size: int = 32) -> PairsResult:
    """Share of ``pairs`` whose grammatical sentence gets the higher PLL, overall and per phenomenon.

    Each sentence costs one masked copy per token, run ``batch_size`` copies
    per forward pass. Example::

        result = evaluate_pairs(lm, read_pairs_file("tests/data/minimal_pairs.tsv"))
        print(result.accuracy, [(p.phenomenon, p.accuracy) for p in result.by_phenomenon])
    """
    outcomes = []
    for n, pair in enumerate(pairs, start=1):
        try:
            sentences = [pair.grammatical, pair.ungrammatical]
            good, bad = pseudo_log_likelihoods(lm, sentences, batch_size=batch_size)
        except ValueError as err:
            raise ValueError(f"pair {n} ({pair.grammatical[:40]!r}): {err}") from None
        outcomes.append(PairOutcome(pair, good.pll, bad.pll))
    groups: dict[str, list[PairOutcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.pair.phenomenon, []).append(outcome)
    by_phenomenon = tuple(
        PhenomenonScore(name, len(group), sum(o.correct for o in group) / len(group))
        for name, group in groups.items()
    )
    return PairsResult(
        model=lm.name,
        n=len(outcomes),
        accuracy=sum(o.correct for o in outcomes) / len(outcomes),
        by_phenomenon=by_phenomenon,
        outcomes=tuple(outcomes),
    )


# ---------------------------------------------------------------------------- held-out masked tokens


@dataclass(frozen=True)
class MaskedAccuracy:
    lines: int
    targets: int  # selected positions scored
    accuracy: float  # top-1 accuracy at the selected positions
    loss: float  # mean cross-entropy there, in nats

    def to_dict(self) -> dict:
        return {"lines": self.lines, "targets": self.targets, "accuracy": self.accuracy, "loss": self.loss}


def heldout_batches(
    tokenizer, lines: Sequence[str], rate: float = 0.15, seed: int = 1234, batch_size: int = 64,
    max_length: int = 128, whole_word: bool = False,
) -> Iterator[dict]:
    """80/10/10-corrupted batches of ``lines``, one row each, labels only at the selected positions.

    One ``torch.Generator`` seeded with ``seed`` draws every selection, so the same lines give the
    same targets for every model with the same tokenizer. ``whole_word`` selects words rather than
    word pieces (all pieces of a word or none, as in the whole-word masking release of BERT): the
    measure that matches a cloze, where a whole word is hidden and no piece of it gives it away.
    """
    import torch

    from mlm_explorer.masking import PolicyConfig, corrupt_batch, replacement_candidates
    from mlm_explorer.models import unused_token_ids

    excluded = sorted(set(tokenizer.all_special_ids) | set(unused_token_ids(tokenizer)))
    candidates = replacement_candidates(len(tokenizer), excluded)
    policy = PolicyConfig(rate=rate, whole_word=whole_word)
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, len(lines), batch_size):
        chunk = list(lines[start : start + batch_size])
        enc = tokenizer(chunk, padding=True, truncation=True, max_length=max_length,
                        return_special_tokens_mask=True, return_tensors="pt")
        special = enc["special_tokens_mask"].bool() | (enc["attention_mask"] == 0)
        word_ids = None
        if whole_word:  # the fast tokenizer's word index per token; -1 at specials and padding
            word_ids = torch.tensor(
                [[-1 if w is None else w for w in enc.word_ids(i)] for i in range(len(chunk))]
            )
        out = corrupt_batch(enc["input_ids"], special, tokenizer.mask_token_id, candidates, policy,
                            generator, word_ids=word_ids)
        yield {"input_ids": out.corrupted_ids, "attention_mask": enc["attention_mask"],
               "labels": out.labels}


def masked_token_accuracy(
    lm: LoadedModel, lines: Sequence[str], rate: float = 0.15, seed: int = 1234, batch_size: int = 64,
    max_length: int = 128, whole_word: bool = False,
) -> MaskedAccuracy:
    """Top-1 accuracy and loss of ``lm`` at 80/10/10-corrupted positions of ``lines``.

    Each line is its own row (truncated to ``max_length`` tokens); the targets are those of
    :func:`heldout_batches`, so two models can be compared target for target.
    """
    from mlm_explorer.training import evaluate

    lines = [line for line in lines if line.strip()]
    if not lines:
        raise ValueError("No held-out lines to score.")
    # The training loop's own evaluation: the head runs only at the scored positions.
    metrics = evaluate(lm.model, heldout_batches(lm.tokenizer, lines, rate, seed, batch_size, max_length,
                                                 whole_word))
    return MaskedAccuracy(lines=len(lines), targets=metrics.targets, accuracy=metrics.accuracy,
                          loss=metrics.loss)

