"""Which words mattered: attributions of one prediction to the input tokens.

For a masked position and a candidate token (default: the model's top-1),
the quantity explained is the candidate's log-probability there,
``f(ids) = log p(candidate | ids)``. Two attributions per input token, both
summed over the embedding dimension (positive = the token pushed the
candidate up):

- **gradient × input** (Shrikumar et al., 2017): ``∂f/∂e_i · e_i`` for the word
  embedding ``e_i`` of token *i*; one forward and one backward pass.
- **Integrated Gradients** (Sundararajan et al., 2017): the gradient averaged
  along the straight path from a *baseline* sentence to the real one, times
  the difference of their embeddings. The baseline is the same sentence with
  every non-special token replaced by the model's mask token ("all-[MASK]";
  [CLS]/[SEP] are kept, the model never sees a sentence without them; an
  [UNK] is a word of the text and is replaced like the others), so it
  asks "what did knowing each word add, compared with knowing none?". A token
  equal to the baseline (a [MASK], a special token) gets exactly 0. IG's
  *completeness* says the attributions sum to ``f(input) − f(baseline)``;
  the difference, :attr:`Saliency.completeness_gap`, shows how good the
  ``steps``-point approximation of the path integral is.

Both come from Captum (``LayerGradientXActivation`` and
``LayerIntegratedGradients`` on the word-embedding lookup, Gauss–Legendre
steps, Captum's default). The interpolation steps go through the model in
batches (``internal_batch_size``), so 32 steps of a short sentence are one
forward and one backward pass of a batch of 32, not 32 passes.

Captum hooks the layer it attributes to. Models are shared between users and
threads, so the hooks go on a private wrapper around the embedding lookup
(:class:`_WordEmbeddings`), never on the shared model, and gradients are
taken with respect to activations only (no parameter's ``.grad`` is touched).

This module does not plot and knows nothing of the UI or CLI.

Example::

    >>> s = saliency(lm, "The capital of France is [MASK].")        # doctest: +SKIP
    >>> s.target, max(zip(s.integrated_gradients, s.tokens))[1]      # doctest: +SKIP
    ('paris', 'france')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from mlm_explorer.models import LoadedModel
from mlm_explorer.predict import forward, manual_plan_for, mlm_head, no_mask_message
from mlm_explorer.tokens import display_tokens, encode

#: What replaces every non-special token in the Integrated-Gradients baseline.
BASELINES = ("mask", "pad")
DEFAULT_STEPS = 32  # completeness within 1-2% on the bundled model and the tiny test models
MAX_STEPS = 256  # beyond this the cost grows and the gap no longer shrinks visibly
#: Integrated Gradients runs the model forward and backward ``steps`` times over the whole text, so
#: tokens × steps is at most this (one request runs at a time and every other visitor's Saliency waits
#: for it). 512 tokens × 256 steps took 103-108 s with the bundled model on 2 CPU cores; 512 tokens ×
#: 8 steps (this cap) took 3.2-3.6 s there (bench/worst_case.py, SECURITY.md). The default 32 steps
#: fit texts of up to 128 tokens; a short sentence may have all 256.
MAX_SALIENCY_COST = 4096
# Tokens per forward+backward pass of interpolation steps, and the (T × T) attention
# budget per pass (batch × T²): a batch of 32 short sentences is one pass, a 512-token
# text goes one step at a time so the saved activations stay ~0.5 GB for BERT-base.
# 2,048 rather than 4,096: 16 tokens × 256 steps peaked at +455 MB instead of +886 MB
# (bundled model, 2 CPU cores) in the same time (1.3 s vs 1.25 s, median of 3).
_TOKENS_PER_PASS = 2048
_ATTENTION_CELLS_PER_PASS = 262_144


@dataclass(frozen=True)
class Saliency:
    """Attributions of ``log p(target)`` at ``position`` to every input token."""

    model: str
    tokens: tuple[str, ...]  # what the model saw (masks included), aligned to the attributions
    position: int
    target: str  # the candidate explained (display string)
    target_id: int
    target_log_prob: float  # f(input), natural log
    baseline_log_prob: float  # f(baseline)
    baseline: str  # "mask" or "pad": what replaced the non-special tokens in the baseline
    grad_x_input: tuple[float, ...]
    integrated_gradients: tuple[float, ...]
    completeness_gap: float  # sum(IG) − (f(input) − f(baseline)), nats
    steps: int
    passes: int  # forward+backward passes the IG steps took (batched)
    truncated: bool = False
    message: str = ""

    @property
    def relative_gap(self) -> float:
        """|completeness gap| as a share of |f(input) − f(baseline)| (0 = exact)."""
        change = self.target_log_prob - self.baseline_log_prob
        return abs(self.completeness_gap) / max(abs(change), 1e-12)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "tokens": list(self.tokens),
            "position": self.position,
            "target": self.target,
            "target_id": self.target_id,
            "attributions": {
                "grad_x_input": list(self.grad_x_input),
                "integrated_gradients": list(self.integrated_gradients),
            },
            "completeness_gap": self.completeness_gap,
            "target_log_prob": self.target_log_prob,
            "baseline_log_prob": self.baseline_log_prob,
            "baseline": self.baseline,
            "steps": self.steps,
            "truncated": self.truncated,
            "message": self.message,
        }


class _WordEmbeddings(torch.nn.Module):
    """A private handle on the model's word-embedding lookup: Captum hooks this, not the shared model."""

    def __init__(self, lookup: torch.nn.Module) -> None:
        super().__init__()
        self.lookup = lookup

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.lookup(input_ids)


def _target_function(
    lm: LoadedModel, embeddings: _WordEmbeddings, position: int, target_id: int
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``ids (B, T) → log p(target at position) (B,)``, through ``embeddings`` and ``inputs_embeds``.

    With a verified head split only the one row reaches the vocabulary matmul.
    """
    head = mlm_head(lm)

    def f(input_ids: torch.Tensor) -> torch.Tensor:
        embeds = embeddings(input_ids)
        mask = torch.ones(input_ids.shape, dtype=torch.long, device=input_ids.device)
        if head is not None:
            hidden = lm.model.base_model(inputs_embeds=embeds, attention_mask=mask)[0][:, position]
            logits = head(hidden)
        else:
            logits = lm.model(inputs_embeds=embeds, attention_mask=mask).logits[:, position]
        return torch.log_softmax(logits.float(), dim=-1)[:, target_id]

    return f


def resolve_target(lm: LoadedModel, target: str) -> int:
    """The vocabulary id of a candidate typed by a user (``paris``, ``Ġparis``, ``##s``, ...).

    A plain word is read as a word after a space (byte-level BPE and
    SentencePiece store ``Ġparis`` / ``▁paris`` apart from ``paris``), then as
    the vocabulary entry itself; an entry typed with its mark is taken as is.
    It must be one token.
    """
    word = target.strip() if isinstance(target, str) else ""
    if not word:
        raise ValueError("The target is empty: give one token of the model's vocabulary, e.g. paris.")
    if len(word) > 100:
        raise ValueError("The target is one token of the vocabulary, not a text: e.g. paris.")
    tokenizer = lm.tokenizer

    def one_token(form: str) -> int | None:
        ids = tokenizer(form, add_special_tokens=False)["input_ids"]
        ok = len(ids) == 1 and ids[0] != tokenizer.unk_token_id and ids[0] < lm.vocab_size
        return int(ids[0]) if ok else None

    def vocab_entry(form: str) -> int | None:
        i = tokenizer.convert_tokens_to_ids(form)
        ok = isinstance(i, int) and i != tokenizer.unk_token_id and 0 <= i < lm.vocab_size
        return i if ok else None

    marked = word.startswith(("##", "Ġ", "▁")) or word in tokenizer.all_special_tokens
    tries = (vocab_entry,) if marked else ()
    for find, form in [*((t, word) for t in tries), (one_token, " " + word), (vocab_entry, word),
                       (one_token, word)]:
        found = find(form)
        if found is not None:
            return found
    pieces = display_tokens(lm, tokenizer(" " + word, add_special_tokens=False)["input_ids"])
    raise ValueError(
        f"{word[:50]!r} is not one token of this model's vocabulary (it splits into "
        f"{' '.join(pieces)[:100]}); pick a single token, e.g. one of the top-k predictions."
    )


def _steps_per_pass(length: int, steps: int) -> int:
    by_tokens = _TOKENS_PER_PASS // max(length, 1)
    by_attention = _ATTENTION_CELLS_PER_PASS // max(length * length, 1)
    return max(1, min(steps, by_tokens, by_attention))


def _check_steps(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be a whole number from 2 to {MAX_STEPS}, got {steps!r}.")
    return steps


def max_steps_for(n_tokens: int, budget: int = MAX_SALIENCY_COST) -> int:
    """The most Integrated-Gradients steps a text of ``n_tokens`` may take (tokens × steps ≤ ``budget``)."""
    return min(MAX_STEPS, budget // max(n_tokens, 1))


def check_saliency_cost(n_tokens: int, steps: int, budget: int = MAX_SALIENCY_COST) -> None:
    """Raise ``ValueError``, saying the cap and what fits, when ``n_tokens`` × ``steps`` > ``budget``."""
    if n_tokens * steps <= budget:
        return
    most = max_steps_for(n_tokens, budget)
    if most < 2:
        raise ValueError(
            f"Saliency is limited to tokens × steps ≤ {budget:,}, so to texts of at most {budget // 2} "
            f"tokens; this one has {n_tokens}. Use a shorter text."
        )
    raise ValueError(
        f"Saliency on {n_tokens} tokens is limited to {most} steps (tokens × steps ≤ {budget:,}, so one "
        f"explanation stays within seconds); {steps} steps were asked. Choose at most {most} steps or a "
        "shorter text."
    )


def _baseline_ids(lm: LoadedModel, input_ids: Sequence[int], special: Sequence[bool], kind: str) -> list[int]:
    if kind not in BASELINES:
        raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, got {kind!r}.")
    fill = lm.mask_token_id if kind == "mask" else lm.tokenizer.pad_token_id
    if fill is None:
        raise ValueError("This tokenizer has no padding token; use the mask baseline.")
    return [t if s else int(fill) for t, s in zip(input_ids, special, strict=True)]


def saliency(
    lm: LoadedModel,
    text: str,
    position: int | None = None,
    target: str | int | None = None,
    steps: int = DEFAULT_STEPS,
    masked: Sequence[int] = (),
    baseline: str = "mask",
) -> Saliency:
    """Gradient × input and Integrated Gradients of ``log p(target)`` at a masked position.

    ``position`` is a typed mask or a token to mask (default: the first blank);
    ``masked`` hides more tokens; ``target`` is a token string or id (default:
    the model's top-1 there). Raises ``ValueError`` for empty text, no blank,
    a bad position, an unknown target, nonsense ``steps``, or tokens × steps
    over :data:`MAX_SALIENCY_COST` (checked before the model runs).
    """
    from captum.attr import LayerGradientXActivation, LayerIntegratedGradients

    steps = _check_steps(steps)
    encoding = encode(lm, text)
    extra = [int(p) for p in masked] + ([int(position)] if position is not None else [])
    plan = manual_plan_for(lm, encoding, extra)
    if not plan.targets:
        raise ValueError(no_mask_message(lm, encoding))
    pos = plan.targets[0] if position is None else int(position)
    ids_list = list(plan.corrupted_ids)
    check_saliency_cost(len(ids_list), steps)
    # Kept in the baseline: the tokens the tokenizer added and the masks (they stay masks). An unknown
    # token is a word of the text (as in scoring, predict.scored_positions), so it is replaced like any
    # other word; kept, it would be equal in both ends of the path and get 0 by construction.
    unk = lm.tokenizer.unk_token_id
    special = [t in lm.special_ids and t != unk for t in ids_list]
    base_list = _baseline_ids(lm, ids_list, special, baseline)
    if target is None:
        target_id = int(forward(lm, ids_list, positions=[pos]).logits[0].argmax())
    elif isinstance(target, int) and not isinstance(target, bool):
        if not 0 <= target < lm.vocab_size:
            raise ValueError(f"target id {target} is outside the vocabulary (0..{lm.vocab_size - 1}).")
        target_id = target
    else:
        target_id = resolve_target(lm, str(target))

    device = lm.device
    ids = torch.tensor([ids_list], dtype=torch.long, device=device)
    base = torch.tensor([base_list], dtype=torch.long, device=device)
    embeddings = _WordEmbeddings(lm.model.get_input_embeddings())
    f = _target_function(lm, embeddings, pos, target_id)
    batch = _steps_per_pass(len(ids_list), steps)
    with torch.enable_grad():
        gxi = LayerGradientXActivation(f, embeddings).attribute(ids)  # (1, T, E)
        ig = LayerIntegratedGradients(f, embeddings).attribute(
            ids, baselines=base, n_steps=steps, internal_batch_size=batch
        )  # (1, T, E)
    with torch.inference_mode():
        ends = f(torch.cat([ids, base]))  # f(input), f(baseline) in one pass
    ig_tokens = ig[0].sum(dim=-1).detach().double().cpu()
    fx, fb = float(ends[0]), float(ends[1])
    return Saliency(
        model=lm.name,
        tokens=display_tokens(lm, ids_list),
        position=pos,
        target=display_tokens(lm, [target_id])[0],
        target_id=target_id,
        target_log_prob=fx,
        baseline_log_prob=fb,
        baseline=baseline,
        grad_x_input=tuple(float(v) for v in gxi[0].sum(dim=-1).detach().cpu()),
        integrated_gradients=tuple(float(v) for v in ig_tokens),
        completeness_gap=float(ig_tokens.sum()) - (fx - fb),
        steps=steps,
        passes=-(-steps // batch),
        truncated=encoding.truncated,
        message=encoding.message,
    )
