"""Run a masked LM: top-k fills, probability/rank of the original, entropy, PLL scores.

Everything starts from one forward pass (:func:`forward`) over token ids,
which returns logits and, when asked, the attention weights of the same pass,
so the app never runs the model twice for one input.

- :func:`predict` — text with typed masks (or chosen positions) → a
  :class:`PredictionResult`: for every target, the top-k tokens with
  probabilities, the original token's probability and 1-based rank, and the
  entropy (nats) of the predicted distribution. Masks are filled
  *independently* from one pass, exactly as transformers' fill-mask pipeline.
- :func:`predict_plan` — the same for a given :class:`~mlm_explorer.masking.MaskPlan`
  (the 80/10/10 tab predicts on the corrupted ids, at mask, random and kept
  positions alike); :func:`mask_text` makes such a plan from text.
- :func:`iterative_fill` — fill several masks one at a time, most confident
  first, re-running the model after each, to show how it differs.
- :func:`pseudo_log_likelihood` — Salazar et al. (2020), "Masked Language
  Model Scoring": mask each token in turn and score the original; the masked
  copies go through the model in batches.

Speed: when the model is an encoder plus one head module (BERT's ``cls``,
RoBERTa's ``lm_head``), the vocabulary projection — the costliest matmul of a
small model — is applied only at the positions asked for. This is checked
against the full model once per model and falls back to the full forward
otherwise. For BERT-like layers the last encoder layer also runs its
per-position half (output projection, feed-forward) at those positions only
(:data:`NARROW_LAST_LAYER`, checked the same way): a sentence score's masked
copies are each read at one position.

This module does not plot and knows nothing of the UI or CLI.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import torch

from mlm_explorer import serving
from mlm_explorer.attention import AttentionMaps, attention_from_output
from mlm_explorer.masking import (
    Action,
    MaskPlan,
    PolicyConfig,
    manual_plan,
    policy_plan,
    whole_word_positions,
)
from mlm_explorer.models import LoadedModel
from mlm_explorer.tokens import Encoding, display_tokens, encode

# ---------------------------------------------------------------------------- bounds

# Every entry point has a bounded cost, so no input can hold a shared server for long
# (worst cases measured in SECURITY.md). A forward pass over T tokens costs about T token-passes.

#: Iterative filling runs the model once per mask: masks × tokens of the text is at most this
#: (a 512-token text: 16 masks; a 20-token sentence: every mask it can hold).
MAX_ITERATIVE_COST = 8192
#: PLL masks each token in turn, T copies of T tokens (T² token-passes): at most this many tokens
#: (special tokens included) per sentence, about 45 words; two such sentences took 12 s at 80
#: tokens on a loaded 2-core machine (bench/worst_case.py), 64 keeps the Score button under 10 s.
MAX_SCORE_TOKENS = 64
#: The most candidates shown per blank to a person: the Fill tab's slider, each side of a
#: comparison and the command line's --top-k stop here (past ~20 the bars are unreadable and
#: `predict --top-k 100000` printed the whole vocabulary). The library itself only caps at the vocabulary.
MAX_TOP_K = 20


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Candidate:
    """One proposed token at a position."""

    token: str  # display string
    id: int
    prob: float

    def to_dict(self) -> dict:
        """The one JSON shape of a candidate, wherever a command lists them."""
        return {"token": self.token, "id": self.id, "prob": self.prob}


@dataclass(frozen=True)
class TokenPrediction:
    """What the model predicts at one position."""

    position: int
    action: Action  # what the plan did here (NONE for extra positions of all_positions)
    input_token: str  # what the model saw at this position (mask, random token, or the original)
    original: str | None  # the original token, None where the user typed the mask
    original_id: int | None
    top_k: tuple[Candidate, ...]
    original_prob: float | None  # p(original | context); None when the original is unknown
    original_rank: int | None  # 1 = the model's first choice
    entropy: float  # of the full predicted distribution, in nats

    @property
    def correct(self) -> bool | None:
        """Is the top-1 token the original? None when the original is unknown."""
        return None if self.original_id is None else self.top_k[0].id == self.original_id

    def to_dict(self) -> dict:
        return {
            "position": self.position,
            "action": self.action.value,
            "input_token": self.input_token,
            "original": self.original,
            "original_id": self.original_id,
            "top_k": [c.to_dict() for c in self.top_k],
            "original_prob": self.original_prob,
            "original_rank": self.original_rank,
            "entropy": self.entropy,
        }


def word_key(token: str) -> str:
    """A token as a plain lowercase word: WordPiece's ``##``, byte-level BPE's ``Ġ`` and
    SentencePiece's ``▁`` markers dropped, so the same word compares equal across tokenizers."""
    return token.removeprefix("##").lstrip("Ġ▁").lower()


_WORD_MARKERS = ("Ġ", "▁")  # byte-level BPE (GPT-2, RoBERTa) and SentencePiece (ALBERT, T5)


def _is_special_token(token: str) -> bool:
    """``[CLS]``, ``<s>``, ``[MASK]`` ...: a token in brackets ends any word before it."""
    return len(token) > 2 and (token[0], token[-1]) in (("[", "]"), ("<", ">"))


def words_of(tokens: Sequence[str], marked: bool | None = None) -> tuple[str, ...]:
    """The whole words (as :func:`word_key`) that a token sequence spells.

    Pieces are joined the way their tokenizer marks them: WordPiece marks a
    continuation (``ber ##lin``), byte-level BPE and SentencePiece mark a word
    start (``ĠBer lin``), so in a sequence that has any ``Ġ``/``▁`` token an
    unmarked one continues the word before it. Punctuation and special tokens
    stand alone. ``marked`` overrides that guess (a one-word BPE context has no marked token).
    """
    if marked is None:
        marked = any(t.startswith(_WORD_MARKERS) for t in tokens)
    words: list[str] = []
    joinable = False  # may the next token continue the last word?
    for token in tokens:
        key = word_key(token)
        if _is_special_token(token) or not key.isalnum():
            joinable = False
            continue
        continues = not token.startswith(_WORD_MARKERS) if marked else token.startswith("##")
        if continues and joinable:
            words[-1] += key
        else:
            words.append(key)
        joinable = True
    return tuple(words)


#: Stands for a target position in :attr:`PredictionResult.context`: a word boundary, no word of its own.
GAP = "[…]"


def opens_sequence(context: Sequence[str], position: int) -> bool:
    """Does ``position`` follow a special token such as ``<s>`` (a target there starts a word)?

    Byte-level BPE writes a sentence's first word without ``Ġ``, so the marks alone
    would take a guess there for the second half of a word.
    """
    return 0 < position <= len(context) and context[position - 1] != GAP and _is_special_token(
        context[position - 1])


def copies_context(guess: str, context: Sequence[str], starts_word: bool | None = None) -> bool:
    """Is the guess a word the model can read elsewhere in the sentence?

    A small MLM that lacks the fact often fills the blank with a word of the
    sentence ("Berlin is the capital of [MASK]." → *berlin*): the word is in
    its context, so attention makes it cheap to predict. Worth telling a class,
    because it shows what the model does instead of knowing. Only a guess that
    is a whole word (two or more letters or digits, starting a word by its
    tokenizer's marks) counts, and only against the context's whole words
    (:func:`words_of`): ``lin`` does not copy "Berlin". ``starts_word`` says where the
    marks cannot (see :func:`opens_sequence`); ``None`` reads it from the marks.
    """
    word = word_key(guess)
    if len(word) < 2 or not word.isalnum():
        return False
    marked = guess.startswith(_WORD_MARKERS) or any(t.startswith(_WORD_MARKERS) for t in context)
    if starts_word is None:
        starts_word = guess.startswith(_WORD_MARKERS) if marked else not guess.startswith("##")
    return starts_word and word in words_of(context, marked)


@dataclass(frozen=True)
class PredictionResult:
    """Predictions for one sequence; tuples are aligned to token positions."""

    model: str
    tokens: tuple[str, ...]  # display strings of the original tokens (typed masks show the mask)
    input_ids: tuple[int, ...]  # original ids
    model_input_ids: tuple[int, ...]  # what the model saw (the plan's corrupted ids)
    model_input_tokens: tuple[str, ...]
    plan: MaskPlan
    predictions: tuple[TokenPrediction, ...]  # in position order
    truncated: bool = False
    message: str = ""  # e.g. the truncation notice
    attention: AttentionMaps | None = None  # same forward pass, when asked for

    @property
    def context(self) -> tuple[str, ...]:
        """The tokens the model could read: what it saw at every position it was not asked
        about, and :data:`GAP` at each target (so pieces on either side are not joined into a word)."""
        return tuple(t if a is Action.NONE else GAP
                     for t, a in zip(self.model_input_tokens, self.plan.actions, strict=True))

    @property
    def accuracy(self) -> float | None:
        """Top-1 accuracy over the plan's targets whose original is known."""
        targets = [p for p in self.predictions if p.action is not Action.NONE]
        scored = [p.correct for p in targets if p.correct is not None]
        return sum(scored) / len(scored) if scored else None

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "tokens": list(self.tokens),
            "input_ids": list(self.input_ids),
            "model_input_tokens": list(self.model_input_tokens),
            "predictions": [p.to_dict() for p in self.predictions],
            "truncated": self.truncated,
            "message": self.message,
        }


@dataclass(frozen=True)
class MaskedText:
    """Text after the 80/10/10 policy: the encoding, the plan and both token views."""

    encoding: Encoding
    plan: MaskPlan
    corrupted_tokens: tuple[str, ...]

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.encoding.tokens

    @property
    def truncated(self) -> bool:
        return self.encoding.truncated

    @property
    def message(self) -> str:
        return self.encoding.message

    def to_dict(self) -> dict:
        return {
            "tokens": list(self.tokens),
            "input_ids": list(self.plan.original_ids),
            "actions": [a.value for a in self.plan.actions],
            "corrupted_tokens": list(self.corrupted_tokens),
            "corrupted_ids": list(self.plan.corrupted_ids),
            "truncated": self.truncated,
            "message": self.message,
        }


@dataclass(frozen=True)
class FillStep:
    """One step of :func:`iterative_fill`: the position filled and what was known then."""

    step: int  # 1-based
    prediction: TokenPrediction  # made on this pass, with the earlier fills visible
    chosen: Candidate  # the top-1 token written into the sequence


@dataclass(frozen=True)
class IterativeResult:
    """Masks filled one at a time, most confident first."""

    model: str
    tokens: tuple[str, ...]
    plan: MaskPlan
    steps: tuple[FillStep, ...]  # in fill order
    filled_ids: tuple[int, ...]
    filled_tokens: tuple[str, ...]
    filled_text: str
    truncated: bool = False
    message: str = ""

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "tokens": list(self.tokens),
            "steps": [{"step": s.step, **s.prediction.to_dict()} for s in self.steps],
            "filled_tokens": list(self.filled_tokens),
            "filled_text": self.filled_text,
            "truncated": self.truncated,
            "message": self.message,
        }


@dataclass(frozen=True)
class SentenceScore:
    """Pseudo-log-likelihood of one sentence (Salazar et al., 2020)."""

    model: str
    tokens: tuple[str, ...]
    input_ids: tuple[int, ...]
    # log p(token | rest), natural log; None where the tokenizer added the token ([CLS], </s>, ...)
    token_log_probs: tuple[float | None, ...]
    pll: float  # sum of the scored tokens' log-probabilities
    pseudo_perplexity: float  # exp(-pll / n_scored)
    n_scored: int
    truncated: bool = False
    message: str = ""

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "tokens": list(self.tokens),
            "token_log_probs": list(self.token_log_probs),
            "pll": self.pll,
            "pseudo_perplexity": self.pseudo_perplexity,
            "truncated": self.truncated,
            "message": self.message,
        }


@dataclass(frozen=True)
class ForwardOutput:
    """One forward pass over one sequence."""

    logits: torch.Tensor  # (len(positions), V) float32 on the CPU, rows in `positions` order
    positions: tuple[int, ...]
    attentions: tuple[torch.Tensor, ...] | None = field(default=None, repr=False)  # L × (1, H, T, T)


# ---------------------------------------------------------------------------- forward


# Models for which "encoder, then the single head module at chosen rows" was verified
# to equal the full forward. Weak keys: a model freed elsewhere is not kept alive here.
_HEAD_SPLIT_OK: weakref.WeakKeyDictionary[torch.nn.Module, bool] = weakref.WeakKeyDictionary()


# Heads made of several sibling modules, in the order the model's forward applies them:
# DistilBertForMaskedLM.forward (modeling_distilbert.py) runs vocab_transform, activation,
# vocab_layer_norm, vocab_projector; registration order differs (activation comes first).
_CHAINED_HEAD_ORDER: dict[str, tuple[str, ...]] = {
    "distilbert": ("vocab_transform", "activation", "vocab_layer_norm", "vocab_projector"),
}
_CHAINED_HEADS: weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module] = weakref.WeakKeyDictionary()


def head_module(model: torch.nn.Module) -> torch.nn.Module | None:
    """The MLM head: what the model has besides ``base_model``, as one module.

    BERT's ``cls``, RoBERTa's ``lm_head`` and ALBERT's ``predictions`` are one
    module; DistilBERT's head is four siblings, chained in forward order (see
    ``_CHAINED_HEAD_ORDER``). The chain only references the model's own
    modules (nothing is copied or changed); ``tests/test_inside.py`` checks it
    against the full forward for every family, and :func:`_head_split_works`
    does so once per model before predict uses it.
    """
    base = model.base_model
    if base is model:
        return None
    order = _CHAINED_HEAD_ORDER.get(getattr(model.config, "model_type", ""))
    if order is not None and all(isinstance(getattr(model, n, None), torch.nn.Module) for n in order):
        chained = _CHAINED_HEADS.get(model)
        if chained is None:
            chained = _CHAINED_HEADS[model] = torch.nn.Sequential(*(getattr(model, n) for n in order))
        return chained
    heads = [m for m in model.children() if m is not base and next(m.parameters(), None) is not None]
    return heads[0] if len(heads) == 1 else None


def mlm_head(lm: LoadedModel) -> torch.nn.Module | None:
    """The model's own MLM head, mapping hidden states ``(..., H)`` to logits ``(..., V)``.

    None when this architecture's head cannot be split from the encoder (the
    split is verified once per model against the full forward).
    """
    return head_module(lm.model) if _head_split_works(lm) else None


def _once_per_model(cache: weakref.WeakKeyDictionary, lm: LoadedModel, check) -> bool:
    """``check(lm)`` the first time a model is seen, the remembered answer after.

    A check that raises answers False: an architecture the shortcut does not fit
    falls back to the full forward pass.
    """
    cached = cache.get(lm.model)
    if cached is None:
        try:
            with torch.inference_mode():
                cached = bool(check(lm))
        except Exception:
            cached = False
        cache[lm.model] = cached
    return cached


def _head_split_equals_full(lm: LoadedModel) -> bool:
    model, head = lm.model, head_module(lm.model)
    if head is None:
        return False
    ids = torch.tensor([[lm.mask_token_id] * 4], device=lm.device)
    full = model(input_ids=ids).logits[0]
    split = head(model.base_model(input_ids=ids)[0])[0]  # raises where the head needs more than states
    return full.shape == split.shape and torch.allclose(full, split, atol=1e-5, rtol=1e-4)


def _head_split_works(lm: LoadedModel) -> bool:
    return _once_per_model(_HEAD_SPLIT_OK, lm, _head_split_equals_full)


# ---------------------------------------------------------------------------- last layer at the read-outs

# A masked copy is read at one position, but the encoder's last layer computes every position:
# for BERT-like layers (BertLayer: self-attention, then `attention.output` = dense + residual +
# LayerNorm, then the feed-forward, modeling_bert.py) everything after the self-attention is
# per position, so it can run on the read-out positions alone. That is 9 of the layer's 12
# hidden² matmuls per token (the output projection and the 4x feed-forward), 1/8 of a 6-layer
# encoder's arithmetic for a sentence's masked copies. Keys, values and attention weights
# still see every position, so the attention maps are whole. A forward pre-hook on the last
# layer's `attention.output` narrows its two inputs to the read-outs, only on the thread that
# asked and only for the pass that asked (thread-local), so other threads running the same
# model (lens, saliency, training) see it unchanged. Checked against the full encoder once per
# model, as the head split is.


class _ReadOut(threading.local):
    """The read-outs a thread's current pass asked for, until the hook takes them."""

    module: torch.nn.Module | None = None
    rows: torch.Tensor | None = None
    cols: torch.Tensor | None = None


_READ_OUT = _ReadOut()
_NARROW_OK: weakref.WeakKeyDictionary[torch.nn.Module, bool] = weakref.WeakKeyDictionary()


def _narrow_to_read_outs(module: torch.nn.Module, args: tuple) -> tuple | None:
    """Forward pre-hook: ``(context, residual)``, each (B, T, H), become (N, 1, H) at the read-outs."""
    if _READ_OUT.module is not module or len(args) != 2:
        return None
    rows, cols = _READ_OUT.rows, _READ_OUT.cols
    _READ_OUT.module = None  # taken: once per pass, however many copies of the hook a module carries
    return tuple(a[rows, cols][:, None] for a in args)


def _last_attention_output(model: torch.nn.Module) -> torch.nn.Module | None:
    """The last encoder layer's ``attention.output`` of a BERT-like model, else None."""
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0:
        return None
    output = getattr(getattr(layers[-1], "attention", None), "output", None)
    return output if isinstance(output, torch.nn.Module) else None


def _encode_at(
    lm: LoadedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    with_attentions: bool,
    narrow: bool,
):
    """The encoder's hidden states at (rows[i], cols[i]) → (N, H), and its output (for attentions).

    With ``narrow``, the last layer after its self-attention runs at those positions only.
    """
    output = _last_attention_output(lm.model) if narrow else None
    if output is not None:
        _READ_OUT.module, _READ_OUT.rows, _READ_OUT.cols = output, rows, cols
    try:
        out = lm.model.base_model(
            input_ids=input_ids, attention_mask=attention_mask, output_attentions=with_attentions
        )
        narrowed = output is not None and _READ_OUT.module is None  # the hook took the read-outs
    finally:
        _READ_OUT.module = _READ_OUT.rows = _READ_OUT.cols = None
    return (out[0][:, 0] if narrowed else out[0][rows, cols]), out


def _narrow_equals_full(lm: LoadedModel) -> bool:
    output = _last_attention_output(lm.model)
    if output is None:
        return False
    output.register_forward_pre_hook(_narrow_to_read_outs)  # inert until a pass asks (_READ_OUT)
    # Two rows, the second right-padded, each read at two positions (out of order).
    m = lm.mask_token_id
    ids = torch.tensor([[m] * 5, [m] * 3 + [0, 0]], device=lm.device)
    mask = torch.tensor([[1] * 5, [1] * 3 + [0, 0]], device=lm.device)
    rows = torch.tensor([0, 0, 1, 1], device=lm.device)
    cols = torch.tensor([4, 1, 2, 0], device=lm.device)
    full, _ = _encode_at(lm, ids, mask, rows, cols, False, narrow=False)
    narrow, _ = _encode_at(lm, ids, mask, rows, cols, False, narrow=True)
    return full.shape == narrow.shape and torch.allclose(full, narrow, atol=1e-5, rtol=1e-4)


def _narrow_works(lm: LoadedModel) -> bool:
    """Does the last layer at the read-outs equal the full encoder there (once per model)?"""
    return _once_per_model(_NARROW_OK, lm, _narrow_equals_full)


@torch.inference_mode()
def _logits_at_padded(
    lm: LoadedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    with_attentions: bool,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
    """Logits at (rows[i], cols[i]) of a (B, T) batch → (N, V) float32 CPU, plus attentions.

    The one place a model runs for inference (called on the inference worker's thread).
    """
    input_ids, attention_mask = input_ids.to(lm.device), attention_mask.to(lm.device)
    rows, cols = rows.to(lm.device), cols.to(lm.device)
    if _head_split_works(lm):
        # (N, hidden): only these rows reach the vocabulary matmul (and the last layer's feed-forward)
        narrow = NARROW_LAST_LAYER and _narrow_works(lm)
        hidden, out = _encode_at(lm, input_ids, attention_mask, rows, cols, with_attentions, narrow)
        logits = head_module(lm.model)(hidden)
    else:
        out = lm.model(input_ids=input_ids, attention_mask=attention_mask, output_attentions=with_attentions)
        logits = out.logits[rows, cols]
    attentions = tuple(out.attentions) if with_attentions else None
    return logits.float().cpu(), attentions


#: Run the last encoder layer's per-position half at the read-outs only (see _narrow_to_read_outs);
#: a switch for bench/bench_score_burst.py --compare last-layer.
NARROW_LAST_LAYER = True

# Padded tokens from which a pass runs on every core instead of the cores less one: a class's
# burst of sentence scores (30 x 2 sentences x ~10 masked copies of ~10 tokens, ~6,000 tokens) is
# long enough that OpenMP's barriers cost little next to its matrix products, and the handlers
# are idle, waiting for it; small passes keep a core free for the server (serving.configure_threads).
WIDE_PASS_TOKENS = 2048

# One item of a batched pass: (input_ids (b, T), rows (N,), cols (N,)) of one caller.
_Item = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _item_key(item: _Item) -> tuple:
    """What makes two items the same computation: their ids and the positions read out."""
    ids, rows, cols = item
    return tuple(ids.shape), ids.numpy().tobytes(), rows.numpy().tobytes(), cols.numpy().tobytes()


def _run_items(
    items: list[_Item], lm: LoadedModel, with_attentions: bool
) -> list[tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]]:
    """Several callers' items in one pass; identical items (a class pressing the same example) run once.

    Twins share the logits tensor (callers only read it) and get their own
    copies of the attention maps, which a session keeps.
    """
    first_of: dict[tuple, int] = {}
    unique: list[_Item] = []
    index = []
    for item in items:
        key = _item_key(item)
        if key not in first_of:
            first_of[key] = len(unique)
            unique.append(item)
        index.append(first_of[key])
    results = _run_unique(unique, lm, with_attentions)
    out, given = [], set()
    for i in index:
        logits, attentions = results[i]
        if i in given and attentions is not None:
            attentions = tuple(a.clone() for a in attentions)
        given.add(i)
        out.append((logits, attentions))
    return out


def _run_unique(
    items: list[_Item], lm: LoadedModel, with_attentions: bool
) -> list[tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]]:
    """Several callers' sequences as one right-padded batch; each gets back its own rows.

    Padding is masked out (``attention_mask`` 0), so a padded token receives no
    attention and every real position computes what it would alone; absolute
    positions start at 0 on every row, and RoBERTa's position ids skip padding
    (``create_position_ids_from_input_ids``), so right padding moves nothing.
    """
    if len(items) == 1:
        ids, rows, cols = items[0]
        with serving.all_cores(ids.numel() >= WIDE_PASS_TOKENS):
            return [_logits_at_padded(lm, ids, torch.ones_like(ids), rows, cols, with_attentions)]
    length = max(ids.shape[1] for ids, _, _ in items)
    total = sum(ids.shape[0] for ids, _, _ in items)
    pad = lm.tokenizer.pad_token_id
    batch = torch.full((total, length), 0 if pad is None else int(pad), dtype=torch.long)
    mask = torch.zeros((total, length), dtype=torch.long)
    all_rows, offsets, start = [], [], 0
    for ids, rows, _ in items:
        b, t = ids.shape
        batch[start : start + b, :t] = ids
        mask[start : start + b, :t] = 1
        all_rows.append(rows + start)
        offsets.append(start)
        start += b
    with serving.all_cores(batch.numel() >= WIDE_PASS_TOKENS):
        logits, attentions = _logits_at_padded(
            lm, batch, mask, torch.cat(all_rows), torch.cat([c for _, _, c in items]), with_attentions
        )
    out, first = [], 0
    for (ids, rows, _), offset in zip(items, offsets, strict=True):
        b, t = ids.shape
        own = logits[first : first + len(rows)]
        first += len(rows)
        own_attn = None
        if attentions is not None:  # copies, so the batch's tensors are freed with the batch
            own_attn = tuple(a[offset : offset + b, :, :t, :t].clone() for a in attentions)
        out.append((own, own_attn))
    return out


def _logits_at(
    lm: LoadedModel, input_ids: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, with_attentions: bool
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
    """Logits at (rows[i], cols[i]) of a (B, T) batch, run by the inference worker with other callers'."""
    return _logits_many(lm, [(input_ids, rows, cols)], with_attentions)[0]


def _logits_many(lm: LoadedModel, items: list[_Item], with_attentions: bool) -> list:
    """Several items of one caller, submitted together so the worker may run them in one pass."""
    run = partial(_run_items, lm=lm, with_attentions=with_attentions)
    sizes = [(int(ids.shape[0]), int(ids.shape[1])) for ids, _, _ in items]
    return serving.run_batched((lm, "logits", with_attentions), run, items, sizes)


def result_bytes(lm: LoadedModel, logit_rows: int, length: int = 0, with_attentions: bool = False) -> int:
    """Bytes a caller holds for a pass: float32 logits at ``logit_rows`` positions, plus attention maps.

    What :func:`serving.admit` weighs, so a burst of small requests runs together
    and large ones take turns (the attention maps are layers x heads x T x T).
    """
    config = lm.model.config
    attention = 0
    if with_attentions:
        layers = getattr(config, "num_hidden_layers", 12)
        heads = getattr(config, "num_attention_heads", 12)
        attention = layers * heads * length * length * 4
    return logit_rows * lm.vocab_size * 4 + attention


def forward(
    lm: LoadedModel,
    input_ids: Sequence[int] | torch.Tensor,
    with_attentions: bool = False,
    positions: Sequence[int] | None = None,
) -> ForwardOutput:
    """One forward pass over one sequence of ids.

    Returns logits at ``positions`` (all positions when None) and, with
    ``with_attentions``, the attention weights of the same pass.
    """
    ids = torch.as_tensor(list(input_ids) if not isinstance(input_ids, torch.Tensor) else input_ids)
    ids = ids.long().reshape(1, -1)
    length = ids.shape[1]
    pos = tuple(range(length)) if positions is None else tuple(int(p) for p in positions)
    if any(not 0 <= p < length for p in pos):
        raise ValueError(f"positions must be within 0..{length - 1}, got {pos}.")
    cols = torch.tensor(pos, dtype=torch.long)
    logits, attentions = _logits_at(lm, ids, torch.zeros_like(cols), cols, with_attentions)
    if attentions is not None:
        attentions = tuple(a.float().cpu() for a in attentions)
    return ForwardOutput(logits=logits, positions=pos, attentions=attentions)


# ---------------------------------------------------------------------------- predictions


def _check_top_k(top_k: object, vocab_size: int) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a whole number of at least 1, got {top_k!r}.")
    return min(top_k, vocab_size)


# Rows of (N, V) statistics computed at a time: log-softmax, probabilities and their product are
# each N × V floats (510 masked positions × BERT's 30,522 tokens = 62 MB apiece), so a text of
# only masks would otherwise peak at ~300 MB; in chunks of 64 the temporaries stay under 40 MB.
_STATS_ROWS = 64
_TRIM_AFTER_ELEMENTS = 8_000_000


def _distribution_stats(logits: torch.Tensor, orig: torch.Tensor, top_k: int):
    """Entropy, top-k probabilities and ids, log p(original) and its rank for a chunk of rows."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)  # (n, V)
    probs = log_probs.exp()
    # Entropy in nats; p·log p is 0 where p underflows to 0 (log_softmax is finite there).
    entropy = -(probs * log_probs).sum(dim=-1)
    top_p, top_i = probs.topk(top_k, dim=-1)
    orig_lp = log_probs.gather(1, orig[:, None])  # (n, 1)
    # Rank = 1 + number of tokens strictly more likely than the original.
    ranks = (log_probs > orig_lp).sum(dim=-1) + 1
    return entropy, top_p, top_i, orig_lp, ranks


def _token_predictions(
    lm: LoadedModel, logits: torch.Tensor, positions: Sequence[int], plan: MaskPlan, top_k: int
) -> tuple[TokenPrediction, ...]:
    """Turn (N, V) logits at ``positions`` into :class:`TokenPrediction` rows (vectorised)."""
    if not positions:
        return ()
    known = [plan.original_known[p] for p in positions]
    orig = torch.tensor([plan.original_ids[p] if k else 0 for p, k in zip(positions, known, strict=True)])
    parts = [
        _distribution_stats(logits[i : i + _STATS_ROWS], orig[i : i + _STATS_ROWS], top_k)
        for i in range(0, len(positions), _STATS_ROWS)
    ]
    entropy, top_p, top_i, orig_lp, ranks = (torch.cat(t) for t in zip(*parts, strict=True))
    if logits.numel() >= _TRIM_AFTER_ELEMENTS:
        serving.trim_heap()  # hand the (N, V) temporaries back to the OS (see serving.trim_heap)
    top_tokens = display_tokens(lm, top_i.reshape(-1).tolist())
    orig_tokens = display_tokens(lm, [plan.original_ids[p] for p in positions])
    input_tokens = display_tokens(lm, [plan.corrupted_ids[p] for p in positions])
    out = []
    for n, p in enumerate(positions):
        cands = tuple(
            Candidate(token=top_tokens[n * top_k + j], id=int(top_i[n, j]), prob=float(top_p[n, j]))
            for j in range(top_k)
        )
        out.append(
            TokenPrediction(
                position=int(p),
                action=plan.actions[p],
                input_token=input_tokens[n],
                original=orig_tokens[n] if known[n] else None,
                original_id=int(plan.original_ids[p]) if known[n] else None,
                top_k=cands,
                original_prob=float(orig_lp[n, 0].exp()) if known[n] else None,
                original_rank=int(ranks[n]) if known[n] else None,
                entropy=float(entropy[n]),
            )
        )
    return tuple(out)


def _prediction_positions(lm: LoadedModel, plan: MaskPlan, all_positions: bool) -> tuple[int, ...]:
    targets = set(plan.targets)
    if all_positions:
        special = lm.special_ids
        targets |= {i for i, t in enumerate(plan.original_ids) if t not in special}
    return tuple(sorted(targets))


def predict_plan(
    lm: LoadedModel,
    plan: MaskPlan,
    top_k: int = 5,
    all_positions: bool = False,
    with_attentions: bool = False,
    truncated: bool = False,
    message: str = "",
) -> PredictionResult:
    """Predict at the plan's targets from its corrupted ids (one forward pass).

    With ``all_positions`` also at every other non-special position (where the
    model sees the token it predicts). ``truncated``/``message`` are carried
    into the result for plans made from text.
    """
    top_k = _check_top_k(top_k, lm.vocab_size)
    positions = _prediction_positions(lm, plan, all_positions)
    if not positions:
        raise ValueError("Nothing to predict: the plan has no target positions.")
    cost = result_bytes(lm, len(positions), len(plan.corrupted_ids), with_attentions)
    with serving.admit(cost):  # the (N, V) logits live until the predictions are read from them
        out = forward(lm, plan.corrupted_ids, with_attentions=with_attentions, positions=positions)
        predictions = _token_predictions(lm, out.logits, positions, plan, top_k)
    tokens = display_tokens(lm, plan.original_ids)
    model_tokens = display_tokens(lm, plan.corrupted_ids)
    attention = None
    if out.attentions is not None:
        special = lm.special_ids
        attention = attention_from_output(
            model_tokens,
            out.attentions,
            special_mask=[
                t in special and a is Action.NONE
                for t, a in zip(plan.corrupted_ids, plan.actions, strict=True)
            ],
            masked_positions=[i for i, t in enumerate(plan.corrupted_ids) if t == lm.mask_token_id],
        )
    return PredictionResult(
        model=lm.name,
        tokens=tokens,
        input_ids=plan.original_ids,
        model_input_ids=plan.corrupted_ids,
        model_input_tokens=model_tokens,
        plan=plan,
        predictions=predictions,
        truncated=truncated,
        message=message,
        attention=attention,
    )


def manual_plan_for(
    lm: LoadedModel, encoding: Encoding, positions: Sequence[int] = (), whole_word: bool = False
) -> MaskPlan:
    """Mask typed masks plus ``positions`` (extended to whole words if asked)."""
    positions = [int(p) for p in positions]
    n = len(encoding)
    for p in positions:
        if not 0 <= p < n:
            hint = " (the text was truncated)" if encoding.truncated else ""
            raise ValueError(f"Position {p} is outside the sentence, which has tokens 0..{n - 1}{hint}.")
    if whole_word:
        # A word may hold a piece that cannot be masked: SentencePiece keeps an unknown character in
        # its word ("▁ <unk> e b r a s"). The pieces a word adds are masked where they can be and the
        # [UNK] stays, as in the policy (masking.corrupt_batch) and transformers' whole-word collator,
        # which never select a special token; only a position asked for itself may raise.
        asked = set(positions)
        positions = [p for p in whole_word_positions(encoding.word_ids, positions)
                     if p in asked or not encoding.special_mask[p]]
    return manual_plan(encoding.input_ids, encoding.special_mask, lm.mask_token_id, positions)


def no_mask_message(
    lm: LoadedModel, encoding: Encoding, positions: bool = True, goal: str = "a word should be predicted"
) -> str:
    """What to say when ``encoding`` has no blank; every view that needs one says it this way.

    A text cut at the model's length may have had its mask past the cut, so the
    sentence then says where the model looked. ``positions``: whether the view
    also takes token positions to mask; ``goal``: what a blank is for in this view.
    """
    where = f" within the first {lm.max_length} tokens" if encoding.truncated else ""
    choose = ", or choose token positions" if positions else ""
    return f"No mask{where}: type [MASK] or <mask> where {goal}{choose}."


def predict(
    lm: LoadedModel,
    text: str,
    top_k: int = 5,
    positions: Sequence[int] = (),
    all_positions: bool = False,
    whole_word: bool = False,
    with_attentions: bool = False,
) -> PredictionResult:
    """Fill the blanks of ``text``: typed ``[MASK]``/``<mask>`` plus token ``positions``.

    Each blank is predicted independently from one forward pass (as the
    fill-mask pipeline does). ``whole_word`` extends ``positions`` to all pieces
    of their words. Raises ``ValueError`` for empty text, no blank (unless
    ``all_positions``), a bad position or top_k.
    """
    encoding = encode(lm, text)
    return predict_encoding(lm, encoding, top_k, positions, all_positions, whole_word, with_attentions)


def predict_encoding(
    lm: LoadedModel,
    encoding: Encoding,
    top_k: int = 5,
    positions: Sequence[int] = (),
    all_positions: bool = False,
    whole_word: bool = False,
    with_attentions: bool = False,
) -> PredictionResult:
    """:func:`predict` for text already encoded (a caller that looked at the encoding first
    need not tokenize twice)."""
    plan = manual_plan_for(lm, encoding, positions, whole_word)
    if not plan.targets and not all_positions:
        raise ValueError(no_mask_message(lm, encoding))
    return predict_plan(
        lm, plan, top_k, all_positions, with_attentions,
        truncated=encoding.truncated, message=encoding.message,
    )


def mask_text(lm: LoadedModel, text: str, config: PolicyConfig | None = None, seed: int = 0) -> MaskedText:
    """Apply the 80/10/10 policy to ``text`` (reproducible from ``seed``; default config: BERT's)."""
    config = PolicyConfig() if config is None else config
    encoding = encode(lm, text)
    plan = policy_plan(
        encoding.input_ids,
        encoding.special_mask,
        lm.mask_token_id,
        lm.candidate_ids,
        config,
        seed,
        word_ids=encoding.word_ids_for_policy if config.whole_word else None,
    )
    return MaskedText(encoding=encoding, plan=plan, corrupted_tokens=display_tokens(lm, plan.corrupted_ids))


def check_iterative_cost(n_masks: int, n_tokens: int, budget: int | None = None) -> None:
    """Raise ``ValueError`` (saying the cap) when ``n_masks`` passes over ``n_tokens`` exceed ``budget``.

    ``budget`` defaults to :data:`MAX_ITERATIVE_COST`.
    """
    budget = MAX_ITERATIVE_COST if budget is None else budget
    if n_masks * n_tokens > budget:
        most = max(1, budget // max(1, n_tokens))
        raise ValueError(
            f"Iterative filling runs the model once per mask, so it is limited to masks × tokens ≤ "
            f"{budget:,}: with {n_tokens} tokens at most {most} masks, and this text has {n_masks}. "
            "Use independent filling (one pass for all masks), fewer masks or a shorter text."
        )


def iterative_fill(lm: LoadedModel, text_or_plan: str | MaskPlan, top_k: int = 5) -> IterativeResult:
    """Fill the masks one at a time: each pass writes the single most confident position.

    Needs one forward pass per mask; independent filling (:func:`predict`)
    needs one in all. Only ``mask`` positions are filled (random and kept
    tokens are visible to the model and stay as they are).
    """
    top_k = _check_top_k(top_k, lm.vocab_size)
    truncated, message, encoding = False, "", None
    if isinstance(text_or_plan, MaskPlan):
        plan = text_or_plan
    else:
        encoding = encode(lm, text_or_plan)
        plan = manual_plan_for(lm, encoding)
        truncated, message = encoding.truncated, encoding.message
    remaining = [p for p in plan.targets if plan.actions[p] is Action.MASK]
    if not remaining:
        if encoding is not None:  # a text: its mask may be past the cut
            raise ValueError(no_mask_message(lm, encoding, positions=False, goal="a word goes"))
        raise ValueError("No mask to fill: type [MASK] or <mask> where a word goes.")
    check_iterative_cost(len(remaining), len(plan.corrupted_ids))
    ids = list(plan.corrupted_ids)
    steps: list[FillStep] = []
    while remaining:
        out = forward(lm, ids, positions=remaining)
        current = MaskPlan(
            original_ids=plan.original_ids, corrupted_ids=tuple(ids), actions=plan.actions,
            original_known=plan.original_known,
        )
        preds = _token_predictions(lm, out.logits, remaining, current, top_k)
        best = max(range(len(preds)), key=lambda n: preds[n].top_k[0].prob)  # first max on ties
        chosen = preds[best].top_k[0]
        ids[preds[best].position] = chosen.id
        steps.append(FillStep(step=len(steps) + 1, prediction=preds[best], chosen=chosen))
        remaining.pop(best)
    filled_tokens = display_tokens(lm, ids)
    return IterativeResult(
        model=lm.name,
        tokens=display_tokens(lm, plan.original_ids),
        plan=plan,
        steps=tuple(steps),
        filled_ids=tuple(ids),
        filled_tokens=filled_tokens,
        filled_text=lm.tokenizer.decode(ids, skip_special_tokens=True).strip(),
        truncated=truncated,
        message=message,
    )


# ---------------------------------------------------------------------------- scoring


def _check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1, got {batch_size!r}.")
    return batch_size


def masked_copy_log_probs(
    lm: LoadedModel, input_ids: Sequence[int], positions: Sequence[int], batch_size: int = 32
) -> torch.Tensor:
    """log p(original at p | all other tokens) for each p in ``positions``, float64 (N,).

    Builds one copy of the sequence per position with that position masked, in
    chunks of at most ``batch_size`` copies (fewer for long sequences, so one
    pass stays within the inference worker's memory bound). All chunks are
    submitted at once: the worker runs them, with other visitors' requests, in
    as few passes as its bounds allow. Copies of one length need no padding.
    """
    return masked_copy_log_probs_many(lm, [(input_ids, positions)], batch_size)[0]


def masked_copy_log_probs_many(
    lm: LoadedModel, sequences: Sequence[tuple[Sequence[int], Sequence[int]]], batch_size: int = 32
) -> list[torch.Tensor]:
    """:func:`masked_copy_log_probs` of several ``(input_ids, positions)`` at once, in one submission.

    Two sentences of a comparison reach the worker together, so a class
    comparing a pair waits for one round of passes, not two.
    """
    batch_size = _check_batch_size(batch_size)
    items: list[_Item] = []
    owners: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # (sequence, chunk, original ids)
    for n, (input_ids, positions) in enumerate(sequences):
        ids = torch.tensor(list(input_ids), dtype=torch.long)
        pos = torch.tensor(list(positions), dtype=torch.long)
        per_pass = max(1, min(batch_size, serving.worker().config.max_cells // max(1, len(ids)) ** 2))
        for start in range(0, len(pos), per_pass):
            chunk = pos[start : start + per_pass]
            copies = ids.repeat(len(chunk), 1)  # (b, T)
            rows = torch.arange(len(chunk))
            copies[rows, chunk] = lm.mask_token_id
            items.append((copies, rows, chunk))
            owners.append((n, chunk, ids[chunk]))
    parts: list[list[torch.Tensor]] = [[] for _ in sequences]
    if items:
        # One (V,) row of logits per copy is held until it is read.
        with serving.admit(result_bytes(lm, sum(len(chunk) for _, chunk, _ in owners))):
            results = _logits_many(lm, items, with_attentions=False)
            for (n, _, originals), (logits, _) in zip(owners, results, strict=True):
                log_probs = torch.log_softmax(logits, dim=-1)  # (b, V)
                parts[n].append(log_probs.gather(1, originals[:, None])[:, 0].double())
            del results
    return [torch.cat(p) if p else torch.empty(0, dtype=torch.float64) for p in parts]


def scored_positions(lm: LoadedModel, input_ids: Sequence[int]) -> list[int]:
    """The positions a pseudo-log-likelihood masks in turn: every token but those the tokenizer adds.

    Salazar et al. (2020, §2.2) mask every token of the sentence, i.e. all but [CLS]/[SEP] or
    <s>/</s>. An unknown token stands for a piece of the text, so it is scored too: ``special_ids``
    counts [UNK] among the special tokens (the policy never selects it, as transformers' collator),
    but skipping it would drop its log-probability from the sum and from n, so a sentence with an
    unreadable character would score higher than the same sentence as the model reads it.
    """
    unk = lm.tokenizer.unk_token_id
    return [i for i, t in enumerate(input_ids) if t not in lm.special_ids or t == unk]


def _scorable(lm: LoadedModel, text: str, max_tokens: int | None) -> tuple[Encoding, list[int]]:
    """The encoding of ``text`` and its positions to score; ``ValueError`` when it cannot be scored."""
    encoding = encode(lm, text)
    if max_tokens is not None and len(encoding) > max_tokens:
        more = " or more" if encoding.truncated else ""
        raise ValueError(
            f"Scoring runs one copy of the sentence per token, so it is limited to {max_tokens} tokens; "
            f"this text has {len(encoding)}{more}. Score a shorter sentence."
        )
    if encoding.mask_positions:
        raise ValueError("Scoring needs the whole sentence: remove the mask tokens from the text.")
    positions = scored_positions(lm, encoding.input_ids)
    if not positions:
        raise ValueError("The text has no token that can be scored.")
    return encoding, positions


def pseudo_log_likelihood(
    lm: LoadedModel, text: str, batch_size: int = 32, max_tokens: int | None = MAX_SCORE_TOKENS
) -> SentenceScore:
    """Pseudo-log-likelihood and pseudo-perplexity of ``text`` (Salazar et al., 2020).

    Every token but those the tokenizer adds (:func:`scored_positions`) is
    masked in turn and the model's log-probability of the original token is
    read; PLL is their sum and the pseudo-perplexity is ``exp(-PLL / n)``.
    Raises ``ValueError`` for empty text, text with masks, or more than
    ``max_tokens`` tokens (None: no limit but the model's).
    """
    return pseudo_log_likelihoods(lm, [text], batch_size, max_tokens)[0]


def pseudo_log_likelihoods(
    lm: LoadedModel, texts: Sequence[str], batch_size: int = 32, max_tokens: int | None = MAX_SCORE_TOKENS
) -> tuple[SentenceScore, ...]:
    """:func:`pseudo_log_likelihood` of several texts, their masked copies submitted together.

    Every text is checked before any runs (the first problem raises ``ValueError``).
    """
    checked = [_scorable(lm, text, max_tokens) for text in texts]
    scores = masked_copy_log_probs_many(lm, [(e.input_ids, pos) for e, pos in checked], batch_size)
    out = []
    for (encoding, positions), values in zip(checked, scores, strict=True):
        per_token: list[float | None] = [None] * len(encoding)
        for p, v in zip(positions, values.tolist(), strict=True):
            per_token[p] = v
        pll = float(values.sum())
        out.append(
            SentenceScore(
                model=lm.name,
                tokens=encoding.tokens,
                input_ids=encoding.input_ids,
                token_log_probs=tuple(per_token),
                pll=pll,
                pseudo_perplexity=math.exp(-pll / len(positions)),
                n_scored=len(positions),
                truncated=encoding.truncated,
                message=encoding.message,
            )
        )
    return tuple(out)


# ---------------------------------------------------------------------------- attention


def attention_for_text(lm: LoadedModel, text: str) -> tuple[AttentionMaps, str]:
    """Attention maps of ``text`` as the model reads it (typed masks included), and any notice.

    For predictions *and* attention from one pass use ``predict(..., with_attentions=True)``.
    """
    encoding = encode(lm, text)
    with serving.admit(result_bytes(lm, 0, len(encoding), with_attentions=True)):
        out = forward(lm, encoding.input_ids, with_attentions=True, positions=())
    maps = attention_from_output(
        encoding.tokens,
        out.attentions,
        special_mask=[s and p not in encoding.mask_positions for p, s in enumerate(encoding.special_mask)],
        masked_positions=encoding.mask_positions,
    )
    return maps, encoding.message
