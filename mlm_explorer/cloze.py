"""Cloze evaluation: top-1 / top-5 accuracy on sentences with one blank.

The file format is JSON lines, one item per line::

    {"text": "The capital of France is [MASK].", "answers": ["paris"]}

An item counts as correct at k when one of the model's k most likely tokens
at the (first) mask equals one of the answers, compared as words: the
tokenizer's word-start marks (``Ġ``, ``▁``) and surrounding spaces are
removed and case is ignored, so cased and uncased models are judged alike.
A word-piece continuation (``##s``) never matches a whole-word answer.

This module does not draw anything; the CLI's ``eval-cloze`` prints the result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlm_explorer.models import LoadedModel
from mlm_explorer.predict import predict

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
    top_k: tuple[str, ...]  # the model's words, most likely first
    rank: int | None  # 1-based rank of the first answer among top_k, None if absent


@dataclass(frozen=True)
class ClozeResult:
    model: str
    n: int
    top1: float
    top5: float
    outcomes: tuple[ClozeOutcome, ...]

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "n": self.n,
            "top1": self.top1,
            "top5": self.top5,
            "items": [
                {"text": o.text, "answers": list(o.answers), "top_k": list(o.top_k), "rank": o.rank}
                for o in self.outcomes
            ],
        }


def read_cloze_file(path: Path | str) -> list[ClozeItem]:
    """Parse a cloze JSONL file; raises ``ValueError`` naming the file and line on any problem."""
    path = Path(path)
    from mlm_explorer.data import read_limited

    try:
        # A regular file, at most MAX_CLOZE_BYTES actually read (st_size is 0 for /dev/zero).
        raw = read_limited(path, MAX_CLOZE_BYTES).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"Cannot read {path}: it is not UTF-8 text.") from None
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


def _as_word(lm: LoadedModel, token_id: int) -> str:
    token = lm.tokenizer.convert_ids_to_tokens(int(token_id))
    if token is None or token.startswith("##"):
        return ""  # a WordPiece continuation is never a whole word
    return lm.tokenizer.convert_tokens_to_string([token]).strip().lower()


def evaluate_cloze(lm: LoadedModel, items: Sequence[ClozeItem], k: int = 5) -> ClozeResult:
    """Top-1 and top-``k`` accuracy over ``items`` (each needs a mask in its text)."""
    outcomes = []
    for n, item in enumerate(items, start=1):
        try:
            result = predict(lm, item.text, top_k=k)
        except ValueError as err:
            raise ValueError(f"item {n} ({item.text[:40]!r}): {err}") from None
        first = result.predictions[0]
        words = tuple(_as_word(lm, c.id) for c in first.top_k)
        answers = {a.strip().lower() for a in item.answers}
        rank = next((r for r, w in enumerate(words, start=1) if w and w in answers), None)
        outcomes.append(ClozeOutcome(text=item.text, answers=item.answers, top_k=words, rank=rank))
    total = len(outcomes)
    return ClozeResult(
        model=lm.name,
        n=total,
        top1=sum(o.rank == 1 for o in outcomes) / total,
        top5=sum(o.rank is not None and o.rank <= 5 for o in outcomes) / total,
        outcomes=tuple(outcomes),
    )
