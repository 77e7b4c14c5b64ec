"""Layer by layer: the model's own MLM head read out after every layer (a "logit lens").

nostalgebraist (2020, "interpreting GPT: the logit lens") applied GPT-2's
output layer to the hidden state after each block to watch a guess form. For
a masked LM the same idea uses the MLM head the model was trained with
(BERT: dense + GELU + layer norm + decoder; ``BertLMPredictionHead`` in
``modeling_bert.py``), applied at one masked position to the hidden state
after the embeddings (layer 0) and after each layer.

- :func:`layer_by_layer` — text with masks (or token positions to mask) →
  :class:`LayerLens`: per layer the top-k tokens with probabilities, and the
  rank and probability of the model's final answer and of the original token.

Cost: one forward pass with ``output_hidden_states`` (the hidden states come
from the same pass as the prediction), then the head once on ``L + 1`` rows.
The last layer's reading *is* the model's prediction, equal to
:func:`predict.predict` (tested to 1e-5). The head is the one
:func:`predict.mlm_head` splits off and verifies; this module does not split
heads itself, plot, or know of the UI.

Example (a BERT model)::

    >>> lens = layer_by_layer(lm, "The capital of France is [MASK].")   # doctest: +SKIP
    >>> [r.top_k[0].token for r in lens.layers]                         # doctest: +SKIP
    ['.', 'the', 'the', 'paris', 'paris', 'paris', 'paris']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.overrides import TorchFunctionMode

from mlm_explorer.models import LoadedModel
from mlm_explorer.predict import (
    Candidate,
    _check_top_k,
    _token_predictions,
    manual_plan_for,
    mlm_head,
    no_mask_message,
)
from mlm_explorer.tokens import display_tokens, encode


@dataclass(frozen=True)
class LayerReading:
    """What the MLM head reads from the hidden state after one layer, at one position."""

    layer: int  # 0 = the embeddings, the last = the model's output
    top_k: tuple[Candidate, ...]
    final_rank: int  # rank here of the model's final top-1 (1 = already the first choice)
    final_prob: float
    original_rank: int | None  # None when the original is unknown (a typed mask)
    original_prob: float | None
    entropy: float  # nats, of the whole distribution read at this layer

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "top_k": [c.to_dict() for c in self.top_k],
            "final_rank": self.final_rank,
            "original_rank": self.original_rank,
            "final_prob": self.final_prob,
            "original_prob": self.original_prob,
            "entropy": self.entropy,
        }


@dataclass(frozen=True)
class LayerLens:
    """The head's reading at one masked position after every layer."""

    model: str
    tokens: tuple[str, ...]  # what the model saw (masks included), aligned to positions
    position: int
    original: str | None  # the token that was really there; None for a typed mask
    original_id: int | None
    final: Candidate  # the model's own top-1 (the last layer's)
    layers: tuple[LayerReading, ...]  # layer 0 (embeddings) .. num_layers
    truncated: bool = False
    message: str = ""

    @property
    def settles_at(self) -> int:
        """The first layer from which the final answer stays the top-1 up to the output."""
        layer = len(self.layers) - 1
        while layer > 0 and self.layers[layer - 1].final_rank == 1:
            layer -= 1
        return layer

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "tokens": list(self.tokens),
            "position": self.position,
            "original": self.original,
            "layers": [r.to_dict() for r in self.layers],
            "truncated": self.truncated,
            "message": self.message,
        }


class _FewRowsProjection(TorchFunctionMode):
    """Inside the head, compute the vocabulary projection ``x·Wᵀ + b`` as ``(W·xᵀ)ᵀ + b``.

    The same product (to float rounding, ~5e-6 in the logits); only the
    operand order given to the BLAS changes. For a handful of rows (one per
    layer) MKL's sgemm with a transposed weight took ~4× the time of the
    untransposed product on the CPUs measured (``bench/bench_inside.py``), which
    alone made this view cost 1.4-1.6× a prediction. Torch-function modes are
    per thread, so other requests running the same shared model are unaffected.
    """

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.nn.functional.linear and len(args) >= 2:
            x, weight = args[0], args[1]
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            if weight.dim() == 2 and weight.shape[0] == self.vocab_size and x.dim() == 2 and x.shape[0] > 1:
                out = torch.mm(weight, x.T).T  # (rows, V)
                return out if bias is None else out + bias
        return func(*args, **kwargs)


@torch.inference_mode()
def _hidden_rows(lm: LoadedModel, input_ids: Sequence[int], position: int) -> torch.Tensor:
    """(L + 1, H): the hidden state at ``position`` after the embeddings and after each layer.

    One forward pass of the encoder with ``output_hidden_states``; for ALBERT
    the first entry is the embeddings already projected to the hidden size
    (``embedding_hidden_mapping_in``), the size its head expects.
    """
    ids = torch.tensor([list(input_ids)], dtype=torch.long, device=lm.device)
    out = lm.model.base_model(
        input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True
    )
    return torch.stack([h[0, position] for h in out.hidden_states])  # (L + 1, H)


def layer_by_layer(
    lm: LoadedModel,
    text: str,
    position: int | None = None,
    masked: Sequence[int] = (),
    top_k: int = 5,
    whole_word: bool = False,
) -> LayerLens:
    """Read the MLM head's guess at one masked position after every layer.

    ``position`` is the token to look at: a typed mask, or any token of the
    text (it is then masked, so the original is known); default the first
    blank. ``masked`` hides more tokens (as the Fill tab's clicked chips).
    Raises ``ValueError`` for empty text, no blank, a bad position or top_k,
    or an architecture whose head cannot be split from its encoder.
    """
    top_k = _check_top_k(top_k, lm.vocab_size)
    head = mlm_head(lm)
    if head is None:
        raise ValueError(
            f"The layer-by-layer view needs the model's MLM head on its own; {lm.config.model_type} "
            "models keep it inside a forward pass this app cannot split."
        )
    encoding = encode(lm, text)
    extra = [int(p) for p in masked] + ([int(position)] if position is not None else [])
    plan = manual_plan_for(lm, encoding, extra, whole_word)
    if not plan.targets:
        raise ValueError(no_mask_message(lm, encoding))
    pos = plan.targets[0] if position is None else int(position)
    rows = _hidden_rows(lm, plan.corrupted_ids, pos)
    with torch.inference_mode(), _FewRowsProjection(lm.vocab_size):
        logits = head(rows).float().cpu()  # (L + 1, V)
    readings = _token_predictions(lm, logits, [pos] * len(logits), plan, top_k)
    final = readings[-1].top_k[0]
    log_probs = torch.log_softmax(logits, dim=-1)
    final_lp = log_probs[:, final.id : final.id + 1]  # (L + 1, 1)
    # Rank = 1 + number of tokens strictly more likely (as for the original in predict).
    final_ranks = ((log_probs > final_lp).sum(dim=-1) + 1).tolist()
    layers = tuple(
        LayerReading(
            layer=n,
            top_k=r.top_k,
            final_rank=int(final_ranks[n]),
            final_prob=float(final_lp[n, 0].exp()),
            original_rank=r.original_rank,
            original_prob=r.original_prob,
            entropy=r.entropy,
        )
        for n, r in enumerate(readings)
    )
    return LayerLens(
        model=lm.name,
        tokens=display_tokens(lm, plan.corrupted_ids),
        position=pos,
        original=readings[-1].original,
        original_id=readings[-1].original_id,
        final=final,
        layers=layers,
        truncated=encoding.truncated,
        message=encoding.message,
    )
