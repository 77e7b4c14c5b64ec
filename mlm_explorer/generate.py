"""Watch an encoder try to write: fill a row of blanks one token at a time, and record every step.

A masked LM is trained to fill a few blanks in a text that is mostly there
(BERT masks 15% of the tokens). Asked to write a whole sentence from nothing
but blanks, it has to be driven by a procedure, and the result shows why it
is not a left-to-right generator. Four procedures:

- ``iterative`` — every step, predict all remaining blanks and fill the one
  the model is most sure of with its top token (Ghazvininejad et al., 2019,
  "Mask-Predict", without re-masking); one forward pass per blank;
- ``mask-predict`` — Ghazvininejad et al. (2019), §3.2, the decoder of
  non-autoregressive translation: one pass predicts every blank at once and
  writes each one's top token; each later round re-masks the tokens the model
  was least sure of (fewer every round: :func:`remask_counts`) and predicts
  them again from one pass, seeing the rest; one pass per round;
- ``left-to-right`` — always fill the leftmost blank with its top token, as a
  left-to-right language model would write (but the model still sees the
  blanks to the right);
- ``gibbs`` — Wang & Cho (2019), "BERT has a Mouth, and It Must Speak": sweep
  over the blanks left to right, mask one position, *sample* its token from the
  prediction (temperature, top-k) and write it back; repeat for N sweeps.
  Sampling uses a ``torch.Generator`` seeded with ``seed``: the same seed gives
  the same trace.

After each sweep (a mask-predict round counts as one; the fill strategies make one) the sentence's
pseudo-log-likelihood is computed with :func:`predict.masked_copy_log_probs`,
the scorer of the Sentence-score tab. Special tokens and BERT's ``[unusedN]``
placeholders are never written: choices are restricted to
:attr:`LoadedModel.candidate_ids`, the same set the 80/10/10 policy draws
random replacements from.

This module does not plot and knows nothing of the UI or CLI.

Example::

    >>> trace = generate(lm, 8, "gibbs", steps=3, seed=0)           # doctest: +SKIP
    >>> len(trace.steps), len(trace.pll_per_sweep)                   # doctest: +SKIP
    (24, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mlm_explorer.models import LoadedModel
from mlm_explorer.predict import forward, masked_copy_log_probs, no_mask_message, scored_positions
from mlm_explorer.tokens import display_tokens, encode

STRATEGIES: tuple[str, ...] = ("iterative", "gibbs", "left-to-right", "mask-predict")
#: Strategies that run several sweeps (rounds); the others fill each blank once.
MULTI_SWEEP: frozenset[str] = frozenset({"gibbs", "mask-predict"})
#: Most blanks one call may fill (one forward pass per blank per sweep).
MAX_BLANKS = 64
#: Most Gibbs sweeps (mask-predict rounds) one call may run.
MAX_SWEEPS = 50
#: Sweeps when none is given: enough to see the sentence settle on a small model.
DEFAULT_SWEEPS = 3


@dataclass(frozen=True)
class GenerationStep:
    """One written token."""

    step: int  # 1-based over the whole trace
    sweep: int  # 1-based
    position: int  # token position written (special tokens included in the count)
    token: str  # display string of the token written
    token_id: int
    prob: float  # the model's probability of that token (softmax over the vocabulary, no temperature)
    ids: tuple[int, ...]  # the whole sequence after this step
    tokens: tuple[str, ...]  # its display strings (so a step can be drawn without the model)
    text: str  # the sequence after this step as text (blanks shown as the mask token)


@dataclass(frozen=True)
class GenerationTrace:
    """Every step of one generation, and the sentence's PLL after each sweep."""

    model: str
    strategy: str
    seed: int
    temperature: float
    top_k: int  # 0 = the whole vocabulary
    sweeps: int
    start_ids: tuple[int, ...]
    start_tokens: tuple[str, ...]
    start_text: str
    mask_token_id: int
    special_mask: tuple[bool, ...]  # [CLS]/[SEP]-like positions of the start (blanks are not special here)
    blanks: tuple[int, ...]  # positions the procedure may write
    steps: tuple[GenerationStep, ...]
    tokens: tuple[str, ...]  # the final sequence, display strings
    text: str  # the final sentence
    pll_per_sweep: tuple[float, ...]  # natural log, summed over the non-special tokens
    message: str = ""  # e.g. the truncation notice of a long prompt

    def ids_at(self, step: int) -> tuple[int, ...]:
        """The sequence after ``step`` steps (0 = the start)."""
        if not 0 <= step <= len(self.steps):
            raise ValueError(f"step must be within 0..{len(self.steps)}, got {step}.")
        return self.start_ids if step == 0 else self.steps[step - 1].ids

    def tokens_at(self, step: int) -> tuple[str, ...]:
        """Display strings of the sequence after ``step`` steps (0 = the start)."""
        self.ids_at(step)  # range check
        return self.start_tokens if step == 0 else self.steps[step - 1].tokens

    def to_dict(self) -> dict:
        """JSON-ready, with nothing that changes between two runs with the same seed (no timings)."""
        return {
            "model": self.model,
            "strategy": self.strategy,
            "seed": self.seed,
            # Sampling settings mean something for Gibbs only; null elsewhere rather than unused values.
            "temperature": self.temperature if self.strategy == "gibbs" else None,
            "top_k": self.top_k if self.strategy == "gibbs" else None,
            "sweeps": self.sweeps,
            "start": self.start_text,
            "steps": [
                {"step": s.step, "sweep": s.sweep, "position": s.position, "token": s.token, "text": s.text}
                for s in self.steps
            ],
            "text": self.text,
            "pll_per_sweep": [round(p, 4) for p in self.pll_per_sweep],
            "message": self.message,
        }


def _check_settings(strategy: str, steps: int | None, temperature: float, top_k: int, seed: int) -> int:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {repr(strategy)[:40]}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be a whole number from 0 to 2**63-1, got {repr(seed)[:40]}.")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise ValueError(f"top_k must be a whole number, 0 for the whole vocabulary; got {repr(top_k)[:40]}.")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
        0.05 <= float(temperature) <= 10.0
    ):
        raise ValueError(f"temperature must be between 0.05 and 10, got {repr(temperature)[:40]}.")
    if strategy not in MULTI_SWEEP:
        if steps not in (None, 1):
            raise ValueError(
                f"{strategy} fills each blank once (one sweep); sweeps are for gibbs and mask-predict.")
        return 1
    if steps is None:
        return DEFAULT_SWEEPS
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_SWEEPS:
        raise ValueError(f"sweeps must be a whole number from 1 to {MAX_SWEEPS}, got {repr(steps)[:40]}.")
    return steps


def remask_counts(blanks: int, rounds: int) -> tuple[int, ...]:
    """How many tokens each mask-predict round after the first re-masks: ⌊N·(T−t)/T⌋ for t = 1..T−1.

    Ghazvininejad et al. (2019), §3.2: a linear decay, so early rounds revise most of
    the sentence and the last revises a few tokens.

    >>> remask_counts(10, 3)
    (6, 3)
    >>> remask_counts(4, 1)
    ()
    """
    return tuple(blanks * (rounds - t) // rounds for t in range(1, rounds))


def start_sequence(
    lm: LoadedModel, text_or_length: str | int
) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """The starting ids, the blank positions, and any notice.

    A length ``n`` gives ``n`` mask tokens between the model's special tokens;
    a text gives its tokens with its typed ``[MASK]``/``<mask>`` blanks.
    """
    if isinstance(text_or_length, bool):
        raise ValueError("Give a number of blanks or a text with [MASK] blanks.")
    if isinstance(text_or_length, int):
        limit = min(MAX_BLANKS, lm.max_length - 2)
        if not 1 <= text_or_length <= limit:
            raise ValueError(f"The length must be from 1 to {limit} blanks, got {text_or_length}.")
        # The tokenizer's own template adds [CLS]/[SEP] (or <s>/</s>) around the blanks.
        encoding = encode(lm, " ".join([lm.mask_token] * text_or_length))
        if len(encoding.mask_positions) != text_or_length:
            raise ValueError(f"{lm.name}'s tokenizer does not read a row of mask tokens as blanks.")
        return encoding.input_ids, encoding.mask_positions, ""
    encoding = encode(lm, text_or_length)
    if not encoding.mask_positions:
        raise ValueError(no_mask_message(lm, encoding, positions=False, goal="words should be written"))
    if len(encoding.mask_positions) > MAX_BLANKS:
        raise ValueError(f"At most {MAX_BLANKS} blanks, got {len(encoding.mask_positions)}.")
    return encoding.input_ids, encoding.mask_positions, encoding.message


def _allowed(lm: LoadedModel) -> torch.Tensor:
    """(V,) bool: True where a token may be written (no specials, no [unusedN], known to the tokenizer)."""
    allowed = torch.zeros(lm.vocab_size, dtype=torch.bool)
    allowed[lm.candidate_ids] = True
    return allowed


def _readable(lm: LoadedModel, ids: list[int] | tuple[int, ...]) -> str:
    """The sequence as text, blanks kept as the mask token and [CLS]/[SEP]/padding left out."""
    hidden = lm.special_ids - {lm.mask_token_id}
    return lm.tokenizer.decode([i for i in ids if i not in hidden]).strip()


def _pll(lm: LoadedModel, ids: list[int]) -> float:
    positions = scored_positions(lm, ids)  # the Score tab's positions (unknown tokens included)
    return float(masked_copy_log_probs(lm, ids, positions).sum()) if positions else 0.0


def generate(
    lm: LoadedModel,
    text_or_length: str | int,
    strategy: str = "iterative",
    steps: int | None = None,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int = 0,
) -> GenerationTrace:
    """Fill the blanks of a start (``n`` blanks, or a text with ``[MASK]``s) step by step.

    ``strategy``: ``iterative`` (most confident blank first, its top token),
    ``left-to-right`` (leftmost blank, its top token), ``gibbs`` (``steps``
    sweeps of re-masking each blank and sampling it with ``temperature`` from
    the ``top_k`` most likely tokens, 0 = all; seeded) or ``mask-predict``
    (``steps`` rounds: all blanks at once, then re-mask the least sure; top
    tokens, no sampling). The fill strategies make one sweep and take no
    ``steps``; only gibbs uses temperature and top_k. Raises
    ``ValueError`` for a bad start or setting.
    """
    sweeps = _check_settings(strategy, steps, temperature, top_k, seed)
    start_ids, blanks, message = start_sequence(lm, text_or_length)
    if strategy == "mask-predict" and sweeps > len(blanks):
        # Past N rounds for N blanks ⌊N·(T−t)/T⌋ re-masks nothing: rounds that would only repeat.
        sweeps = len(blanks)
        message = " ".join(filter(None, [message, f"{len(blanks)} blanks take at most {len(blanks)} "
                                         "mask-predict rounds; ran that many."]))
    allowed = _allowed(lm)
    generator = torch.Generator().manual_seed(int(seed))
    ids = list(start_ids)
    recorded: list[GenerationStep] = []
    plls: list[float] = []

    def write(position: int, token_id: int, prob: float, sweep: int) -> None:
        ids[position] = token_id
        recorded.append(
            GenerationStep(
                step=len(recorded) + 1, sweep=sweep, position=position,
                token=display_tokens(lm, [token_id])[0], token_id=token_id, prob=prob,
                ids=tuple(ids), tokens=display_tokens(lm, ids), text=_readable(lm, ids),
            )
        )

    def restricted(logits: torch.Tensor) -> torch.Tensor:
        # (N, V) -> (N, V) with unwritable tokens at -inf.
        return logits.float().masked_fill(~allowed, float("-inf"))

    if strategy == "gibbs":
        for sweep in range(1, sweeps + 1):
            for position in blanks:
                ids[position] = lm.mask_token_id  # the model predicts this position from all the others
                logits = forward(lm, ids, positions=[position]).logits
                probs = torch.softmax(logits.float(), dim=-1)[0]
                scores = restricted(logits)[0] / float(temperature)
                if 0 < top_k < scores.numel():
                    kth = scores.topk(top_k).values[-1]
                    scores = scores.masked_fill(scores < kth, float("-inf"))
                choice = int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator))
                write(position, choice, float(probs[choice]), sweep)
            plls.append(_pll(lm, ids))
    elif strategy == "mask-predict":
        # Round 1: every blank from one pass. Later rounds: re-mask the least sure, predict them again.
        sure: dict[int, float] = {}
        todo = list(blanks)
        for sweep, count in enumerate((len(blanks), *remask_counts(len(blanks), sweeps)), start=1):
            if sweep > 1:
                # Lowest probability first; ties go to the leftmost (sorted is stable).
                todo = sorted(sorted(blanks, key=lambda p: sure[p])[:count])
            for position in todo:
                ids[position] = lm.mask_token_id
            if todo:
                logits = forward(lm, ids, positions=todo).logits  # (len(todo), V), one pass
                probs = torch.softmax(logits.float(), dim=-1)
                best_p, best_i = probs.masked_fill(~allowed, -1.0).max(dim=-1)
                for row, position in enumerate(todo):
                    sure[position] = float(best_p[row])
                    write(position, int(best_i[row]), float(best_p[row]), sweep)
            plls.append(_pll(lm, ids))
    else:
        remaining = list(blanks)
        while remaining:
            logits = forward(lm, ids, positions=remaining).logits  # (len(remaining), V)
            probs = torch.softmax(logits.float(), dim=-1)
            best_p, best_i = probs.masked_fill(~allowed, -1.0).max(dim=-1)
            # The most confident blank (first on ties), or always the leftmost one.
            n = int(best_p.argmax()) if strategy == "iterative" else 0
            token = int(best_i[n])
            write(remaining.pop(n), token, float(probs[n, token]), 1)
        plls.append(_pll(lm, ids))

    return GenerationTrace(
        model=lm.name, strategy=strategy, seed=int(seed), temperature=float(temperature), top_k=int(top_k),
        sweeps=sweeps, start_ids=tuple(start_ids), start_tokens=display_tokens(lm, start_ids),
        start_text=_readable(lm, start_ids), mask_token_id=lm.mask_token_id,
        special_mask=tuple(i in lm.special_ids and p not in blanks for p, i in enumerate(start_ids)),
        blanks=blanks,
        steps=tuple(recorded), tokens=display_tokens(lm, ids), text=_readable(lm, ids),
        pll_per_sweep=tuple(plls), message=message,
    )
