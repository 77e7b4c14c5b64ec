"""Guess first: a classroom quiz where a student guesses a hidden word before the model's answer shows.

A quiz item is a sentence with one word marked in brackets, as a teacher types
it: ``The [cat] sat on the mat.`` The bracketed word is hidden; the model sees
the sentence with its mask token there.

- :func:`parse_items` — a teacher's list (one sentence a line) → items, with a
  plain-language note for every line it skipped (no bracket, two brackets,
  ...); empty lines are ignored and long lists are capped.
- :func:`load_bundled_items` — the set shipped in ``assets/data/quiz.tsv``.
- :func:`pick_round` — a round of 5–10 items, reproducible from a seed.
- :func:`score_item` — one forward pass at the blank: the model's top-k, and
  for the answer and each of the student's guesses its probability and rank
  in the model's distribution. A word the tokenizer splits into several
  pieces is not one entry of that distribution: it is scored by its
  pseudo-log-likelihood *in place* (Salazar et al., 2020: the word written
  into the sentence, each piece masked in turn with the others visible) and
  ranked against the single tokens by that score; :attr:`WordScore.in_place`
  says so, and the app tells the student.
- :class:`ScoreCard` — hits@1 / hits@5 of the student and of the model.

Nothing here keeps state between calls: a round is a frozen value the caller
holds (the app keeps it in the browser session only). This module does not
plot and knows nothing of the UI.

Example::

    >>> parsed = parse_items("The [cat] sat on the mat.\\n\\nNo bracket here.")
    >>> [(i.answer, i.blanked) for i in parsed.items]
    [('cat', 'The ____ sat on the mat.')]
    >>> parsed.problems
    ('line 3: no word in [brackets], skipped.',)
"""

from __future__ import annotations

import csv
import io
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from mlm_explorer.cloze import as_word
from mlm_explorer.models import REPO_ROOT, LoadedModel
from mlm_explorer.predict import Candidate, forward, masked_copy_log_probs
from mlm_explorer.tokens import check_text, display_tokens, encode

#: The bundled item set: ``kind<TAB>sentence with [word]<TAB>note`` per line.
BUNDLED_QUIZ = REPO_ROOT / "assets" / "data" / "quiz.tsv"
#: A teacher's list is read up to this many lines (a lesson needs tens; 10,000 would only cost time).
MAX_LINES = 500
#: Longest sentence accepted, in characters (a quiz sentence is one line, not a paragraph).
MAX_SENTENCE_CHARS = 300
#: Longest hidden word or guess, in characters.
MAX_WORD_CHARS = 40
#: Items per round: enough for a score to mean something, few enough for a lesson.
MIN_ROUND, MAX_ROUND = 5, 10
#: Guesses a student may give for one item (best first): the first counts for hits@1, all for hits@5.
MAX_GUESSES = 5
BLANK = "____"

_BRACKETED = re.compile(r"\[([^\[\]]*)\]")
# Typed mask spellings are not words to hide: "[MASK]" in a teacher's line is a mistake.
_MASK_WORDS = {"mask", "<mask>"}
_TYPED_MASK = re.compile(r"<mask>", re.IGNORECASE)


# ---------------------------------------------------------------------------- items


@dataclass(frozen=True)
class QuizItem:
    """One sentence with its hidden word at ``sentence[start:end]``."""

    sentence: str  # the full sentence, brackets removed
    start: int  # character span of the hidden word in `sentence`
    end: int
    kind: str = ""  # bundled set: fact / grammar / common sense / hard
    note: str = ""  # bundled set: why the model tends to fail here (shown after the reveal)

    @property
    def answer(self) -> str:
        return self.sentence[self.start : self.end]

    @property
    def blanked(self) -> str:
        """What the student sees: the sentence with a blank line for the word."""
        return self.sentence[: self.start] + BLANK + self.sentence[self.end :]

    def with_word(self, word: str) -> tuple[str, int, int]:
        """The sentence with ``word`` written in the blank, and the word's new character span."""
        text = self.sentence[: self.start] + word + self.sentence[self.end :]
        return text, self.start, self.start + len(word)

    def masked(self, mask_token: str) -> str:
        """What the model sees: the sentence with ``mask_token`` in the blank."""
        return self.with_word(mask_token)[0]


@dataclass(frozen=True)
class ParsedItems:
    """A teacher's list after reading: the usable items and a note per skipped line."""

    items: tuple[QuizItem, ...]
    problems: tuple[str, ...]  # "line 3: no word in [brackets], skipped." ...
    message: str = ""  # set when the list was capped


def parse_line(line: str) -> QuizItem:
    """One ``The [cat] sat.`` line → an item; ``ValueError`` saying what is wrong with it."""
    text = line.strip()
    if len(text) > MAX_SENTENCE_CHARS:
        raise ValueError(f"longer than {MAX_SENTENCE_CHARS} characters, skipped.")
    found = list(_BRACKETED.finditer(text))
    if not found:
        raise ValueError("no word in [brackets], skipped.")
    if len(found) > 1:
        raise ValueError(f"{len(found)} words in brackets; mark exactly one, skipped.")
    word = found[0].group(1).strip()
    rest = text[: found[0].start()] + text[found[0].end() :]
    if "[" in rest or "]" in rest:
        raise ValueError("an unmatched [ or ], skipped.")
    if not word:
        raise ValueError("the brackets are empty, skipped.")
    if word.lower() in _MASK_WORDS:
        raise ValueError("put the hidden word itself in brackets, not a mask token, skipped.")
    if len(word) > MAX_WORD_CHARS or any(c.isspace() for c in word):
        raise ValueError("mark one word in brackets (no spaces), skipped.")
    m = found[0]
    sentence = text[: m.start()] + word + text[m.end() :]
    if _TYPED_MASK.search(sentence):
        raise ValueError("the sentence has a mask token; put the hidden word in brackets instead, skipped.")
    if not sentence.replace(word, "", 1).strip():
        raise ValueError("the sentence has nothing but the hidden word, skipped.")
    return QuizItem(sentence=sentence, start=m.start(), end=m.start() + len(word))


def parse_items(text: str, max_lines: int = MAX_LINES) -> ParsedItems:
    """A teacher's list, one sentence a line with the hidden word in brackets → items.

    Empty lines are ignored; a line with no bracket, two brackets, empty
    brackets or a phrase in brackets is skipped with a note naming its line
    number. Only the first ``max_lines`` lines are read (``message`` says so).
    Raises ``ValueError`` when no line is usable.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("The list is empty: type one sentence a line, the hidden word in [brackets].")
    lines = text.splitlines()
    message = ""
    if len(lines) > max_lines:
        message = f"The list has {len(lines):,} lines; only the first {max_lines:,} were read."
        lines = lines[:max_lines]
    items, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append(parse_line(line))
        except ValueError as err:
            problems.append(f"line {number}: {err}")
    if not items:
        shown = " ".join(problems[:3])
        raise ValueError(
            "No usable line: write one sentence a line with the hidden word in brackets, "
            f"e.g. The [cat] sat on the mat. ({shown})"
        )
    return ParsedItems(items=tuple(items), problems=tuple(problems), message=message)


def load_bundled_items(path: Path | str = BUNDLED_QUIZ) -> tuple[QuizItem, ...]:
    """The shipped set: ``kind<TAB>sentence with [word]<TAB>note`` lines (``#`` starts a comment)."""
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        kind, sentence, note = (line.split("\t") + ["", ""])[:3]
        try:
            item = parse_line(sentence)
        except ValueError as err:
            raise ValueError(f"{Path(path).name}, line {number}: {err}") from None
        items.append(replace(item, kind=kind.strip(), note=note.strip()))
    return tuple(items)


def pick_round(items: Sequence[QuizItem], size: int = MIN_ROUND, seed: int = 0) -> tuple[QuizItem, ...]:
    """``size`` items drawn without replacement, reproducible from ``seed`` (all of them if fewer)."""
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_ROUND <= size <= MAX_ROUND:
        raise ValueError(f"A round has {MIN_ROUND} to {MAX_ROUND} items, got {repr(size)[:40]}.")
    if not items:
        raise ValueError("There are no items to draw a round from.")
    pool = list(items)
    random.Random(int(seed)).shuffle(pool)
    return tuple(pool[:size])


# ---------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class WordScore:
    """How likely the model finds one word in the blank."""

    word: str  # as typed (the answer, or a student's guess)
    pieces: tuple[str, ...]  # the tokens the word became in the sentence
    log_prob: float  # natural log; the PLL in place for several pieces
    rank: int  # 1 + how many single tokens the model finds more likely at the blank
    in_place: bool  # True: several pieces (or a changed context), scored by PLL in place

    @property
    def prob(self) -> float:
        return math.exp(self.log_prob)


@dataclass(frozen=True)
class QuizReveal:
    """Everything the reveal shows for one item."""

    model: str
    item: QuizItem
    top_k: tuple[Candidate, ...]  # the model's single-token guesses at the blank
    answer: WordScore
    guesses: tuple[WordScore, ...]  # the student's, best first (empty: no guess)
    student_hit1: bool
    student_hit5: bool
    model_hit1: bool
    model_hit5: bool

    def to_dict(self) -> dict:
        def word(s: WordScore) -> dict:
            return {"word": s.word, "pieces": list(s.pieces), "prob": s.prob, "rank": s.rank,
                    "in_place": s.in_place}

        return {
            "model": self.model,
            "sentence": self.item.blanked,
            "answer": word(self.answer),
            "guesses": [word(g) for g in self.guesses],
            "top_k": [c.to_dict() for c in self.top_k],
            "student_hit1": self.student_hit1,
            "student_hit5": self.student_hit5,
            "model_hit1": self.model_hit1,
            "model_hit5": self.model_hit5,
        }


def split_guesses(raw: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"cat, dog"`` → ``("cat", "dog")``: up to :data:`MAX_GUESSES` words, best first."""
    if raw is None:
        return ()
    parts = [str(p) for p in raw] if isinstance(raw, (list, tuple)) else re.split(r"[,;\n]", str(raw))
    guesses = tuple(p.strip() for p in parts if p.strip())
    if len(guesses) > MAX_GUESSES:
        raise ValueError(f"Give at most {MAX_GUESSES} guesses, best first; got {len(guesses)}.")
    for g in guesses:
        check_text(g)
        if len(g) > MAX_WORD_CHARS or any(c.isspace() for c in g):
            raise ValueError(f"A guess is one word of at most {MAX_WORD_CHARS} characters: {g[:50]!r}.")
    return guesses


def same_word(a: str, b: str) -> bool:
    """Do two words match for scoring? Case and surrounding punctuation are ignored."""
    def norm(s: str) -> str:
        return s.strip().strip(".,;:!?\"'()").casefold()

    return norm(a) == norm(b) != ""


def _pieces_at(lm: LoadedModel, text: str, start: int, end: int) -> tuple[tuple[int, ...], list[int]]:
    """Ids of ``text`` and the positions of the tokens overlapping characters ``start:end``."""
    enc = encode(lm, text)
    # Word ids, not the special mask: a word the vocabulary lacks is [UNK], special but still the word.
    positions = [
        i for i, ((a, b), word) in enumerate(zip(enc.offsets, enc.word_ids, strict=True))
        if word is not None and a < end and b > start
    ]
    return enc.input_ids, positions


def score_word(
    lm: LoadedModel, item: QuizItem, word: str, masked_ids: Sequence[int], blank: int, log_probs: torch.Tensor
) -> WordScore:
    """Score ``word`` in ``item``'s blank, given the model's log-probabilities ``log_probs`` there.

    One piece that fills exactly the mask's slot: its log-probability and rank
    in that distribution. Otherwise (several pieces, or the word changes how
    its neighbours split): the pseudo-log-likelihood of its pieces in place,
    ranked among the single tokens by that score.
    """
    text, start, end = item.with_word(word)
    ids, positions = _pieces_at(lm, text, start, end)
    if not positions:
        raise ValueError(f"{repr(word)[:40]} gives the model no token to score.")
    pieces = display_tokens(lm, [ids[p] for p in positions])
    fits = len(ids) == len(masked_ids) and positions == [blank] and all(
        a == b for i, (a, b) in enumerate(zip(ids, masked_ids, strict=True)) if i != blank
    )
    if fits:
        lp = float(log_probs[ids[blank]])
        in_place = False
    else:
        lp = float(masked_copy_log_probs(lm, ids, positions).sum())
        in_place = True
    rank = int((log_probs > lp).sum()) + 1
    return WordScore(word=word, pieces=pieces, log_prob=lp, rank=rank, in_place=in_place)


def score_item(
    lm: LoadedModel, item: QuizItem, guesses: str | Sequence[str] = (), top_k: int = 5
) -> QuizReveal:
    """Reveal one item: the model's top-k at the blank, and the answer and guesses scored.

    One forward pass for the blank, plus one batched pass per word of several
    pieces. Raises ``ValueError`` for a bad guess or a sentence the model
    cannot read.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 50:
        raise ValueError(f"top_k must be a whole number from 1 to 50, got {repr(top_k)[:40]}.")
    words = split_guesses(guesses)
    enc = encode(lm, item.masked(lm.mask_token))
    if len(enc.mask_positions) != 1:
        raise ValueError("The sentence must have exactly one blank once read by the model.")
    blank = enc.mask_positions[0]
    logits = forward(lm, enc.input_ids, positions=[blank]).logits[0]
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    top_p, top_i = log_probs.exp().topk(min(top_k, log_probs.numel()))
    names = display_tokens(lm, top_i.tolist())
    top = tuple(
        Candidate(token=t, id=int(i), prob=float(p)) for t, i, p in zip(names, top_i, top_p, strict=True)
    )
    answer = score_word(lm, item, item.answer, enc.input_ids, blank, log_probs)
    scored = tuple(score_word(lm, item, g, enc.input_ids, blank, log_probs) for g in words)
    # Hits@5 looks at the five best tokens whatever top_k shows.
    model_words = [as_word(lm, int(i)) for i in log_probs.topk(min(5, log_probs.numel())).indices]
    return QuizReveal(
        model=lm.name,
        item=item,
        top_k=top,
        answer=answer,
        guesses=scored,
        student_hit1=bool(words) and same_word(words[0], item.answer),
        student_hit5=any(same_word(g, item.answer) for g in words),
        model_hit1=bool(model_words) and same_word(model_words[0], item.answer),
        model_hit5=any(same_word(w, item.answer) for w in model_words[:5]),
    )


# ---------------------------------------------------------------------------- rounds


@dataclass(frozen=True)
class ScoreCard:
    """Hits of the student and of the model over the revealed items of a round."""

    n: int
    student_hits1: int
    student_hits5: int
    model_hits1: int
    model_hits5: int


@dataclass(frozen=True)
class QuizRound:
    """A round in play: its items and the reveals so far, in item order (each step makes a new value)."""

    items: tuple[QuizItem, ...]
    reveals: tuple[QuizReveal, ...] = ()
    source: str = "bundled"  # "bundled" or "teacher's list"
    first: int = 1  # the number of items[0] in the full round (> 1: joined mid-way, see from_item)

    def number(self, index: int) -> int:
        """The number a class calls ``items[index]`` by: its place in the full round (1-based)."""
        return self.first + index

    @property
    def full_size(self) -> int:
        """How many items the full round has (this one's and those before ``first``)."""
        return self.first - 1 + len(self.items)

    @property
    def current(self) -> int:
        """Index of the item being played (== len(items) when the round is over)."""
        return len(self.reveals)

    @property
    def done(self) -> bool:
        return len(self.reveals) >= len(self.items)

    def with_reveal(self, reveal: QuizReveal) -> QuizRound:
        if self.done:
            raise ValueError("The round is over: start a new one.")
        return replace(self, reveals=(*self.reveals, reveal))

    def score_card(self) -> ScoreCard:
        r = self.reveals
        return ScoreCard(
            n=len(r),
            student_hits1=sum(x.student_hit1 for x in r),
            student_hits5=sum(x.student_hit5 for x in r),
            model_hits1=sum(x.model_hit1 for x in r),
            model_hits5=sum(x.model_hit5 for x in r),
        )


def start_round(
    items: Sequence[QuizItem], size: int = MIN_ROUND, seed: int = 0, source: str = "bundled"
) -> QuizRound:
    """A new round of ``size`` items drawn from ``items`` with ``seed``."""
    return QuizRound(items=pick_round(items, size, seed), source=source)


def from_item(quiz: QuizRound, number: int) -> QuizRound:
    """The round from its item ``number`` (1-based) on, numbered as in the whole round.

    A class that opens a teacher's link at item 3 plays the teacher's items 3, 4, …
    and reads "Item 3 of 5", not "Item 1 of 3". Only a round not played yet.

    >>> items = tuple(QuizItem(f"w{i} here.", 0, 2) for i in range(5))
    >>> later = from_item(QuizRound(items), 3)
    >>> [i.answer for i in later.items], later.number(0), later.full_size
    (['w2', 'w3', 'w4'], 3, 5)
    """
    if quiz.reveals:
        raise ValueError("Only a round not played yet can start at a later item.")
    if not 1 <= number <= len(quiz.items):
        raise ValueError(f"The round has items 1 to {len(quiz.items)}; there is no item {number}.")
    return replace(quiz, items=quiz.items[number - 1 :], first=quiz.first + number - 1)


ROUND_COLUMNS = [
    "item", "sentence", "answer", "your guesses", "you: hit@1", "you: hit@5", "p(your guess)",
    "rank of your guess", "model top-5", "model: hit@1", "model: hit@5", "p(answer)", "rank of answer",
    "scored in place",
]


def round_rows(quiz: QuizRound) -> list[dict]:
    """One row per revealed item (what the CSV export holds)."""
    rows = []
    for n, r in enumerate(quiz.reveals, start=quiz.first):  # numbered as in the whole round
        first = r.guesses[0] if r.guesses else None
        in_place = [s.word for s in (r.answer, *r.guesses) if s.in_place]
        rows.append({
            "item": n,
            "sentence": r.item.blanked,
            "answer": r.item.answer,
            "your guesses": ", ".join(g.word for g in r.guesses),
            "you: hit@1": r.student_hit1,
            "you: hit@5": r.student_hit5,
            "p(your guess)": None if first is None else round(first.prob, 6),
            "rank of your guess": None if first is None else first.rank,
            "model top-5": ", ".join(f"{c.token} {c.prob:.1%}" for c in r.top_k[:5]),
            "model: hit@1": r.model_hit1,
            "model: hit@5": r.model_hit5,
            "p(answer)": round(r.answer.prob, 6),
            "rank of answer": r.answer.rank,
            "scored in place": ", ".join(in_place),
        })
    return rows


def round_csv(quiz: QuizRound) -> str:
    """The revealed items of a round as CSV text (a header line even when nothing is revealed)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ROUND_COLUMNS)
    writer.writeheader()
    writer.writerows(round_rows(quiz))
    return buffer.getvalue()
