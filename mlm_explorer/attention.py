"""Attention weights as arrays, and the two aggregations the app shows.

- :class:`AttentionMaps` holds one sequence's attention probabilities as a
  ``(layers, heads, T, T)`` float32 array (row = the attending token, column =
  the attended one; every row sums to 1) with the token strings.
- :func:`compact` keeps the same maps in float16, half the bytes, for a
  session that re-plots them (the views read them as float32 or float64).
- :func:`mean_over_heads` averages the heads of each layer.
- :func:`rollout` is attention rollout (Abnar & Zuidema, 2020, "Quantifying
  Attention Flow in Transformers", §3): add the residual connection as
  ``0.5 * A + 0.5 * I``, re-normalise rows, and multiply the layers' matrices
  from the bottom up, so row *i* of layer *l* estimates how much input token
  *j* flows into position *i* after *l* layers.

Extraction is separate from rendering (as in bertviz): this module never draws
and never runs a model; ``predict.forward(..., with_attentions=True)`` produces
the tensors and :func:`attention_from_output` packs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class AttentionMaps:
    """Attention probabilities of one sequence."""

    tokens: tuple[str, ...]  # display strings, aligned to the T axis (special tokens included)
    array: np.ndarray  # (layers, heads, T, T) float32 (float16 once compact()ed), rows sum to 1
    special_mask: tuple[bool, ...] = ()  # True at special tokens (for "hide special tokens")
    masked_positions: tuple[int, ...] = ()  # positions the model saw as a mask (to mark them)

    def __post_init__(self) -> None:
        if self.array.ndim != 4 or self.array.shape[2] != self.array.shape[3]:
            raise ValueError(f"attention array must be (layers, heads, T, T), got {self.array.shape}.")
        if self.array.shape[2] != len(self.tokens):
            raise ValueError(f"{len(self.tokens)} tokens for an attention array over {self.array.shape[2]}.")

    @property
    def num_layers(self) -> int:
        return int(self.array.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.array.shape[1])

    def head(self, layer: int, head: int) -> np.ndarray:
        """(T, T) float32 map of one head; raises ``IndexError`` with the valid range."""
        if not 0 <= layer < self.num_layers:
            raise IndexError(f"layer {layer} is outside 0..{self.num_layers - 1}.")
        if not 0 <= head < self.num_heads:
            raise IndexError(f"head {head} is outside 0..{self.num_heads - 1}.")
        return self.array[layer, head].astype(np.float32, copy=False)

    def layer_heads(self, layer: int) -> np.ndarray:
        """(heads, T, T) float32 maps of one layer; raises ``IndexError`` with the valid range."""
        if not 0 <= layer < self.num_layers:
            raise IndexError(f"layer {layer} is outside 0..{self.num_layers - 1}.")
        return self.array[layer].astype(np.float32, copy=False)


def attention_from_output(
    tokens: Sequence[str],
    attentions: Sequence[torch.Tensor],
    special_mask: Sequence[bool] = (),
    masked_positions: Sequence[int] = (),
) -> AttentionMaps:
    """Pack transformers' per-layer ``(batch=1, heads, T, T)`` attentions into :class:`AttentionMaps`."""
    if not attentions or any(a is None for a in attentions):
        raise ValueError(
            "The model returned no attention weights; load it with attn_implementation='eager' "
            "(mlm_explorer.models.load_model does)."
        )
    stacked = torch.stack([a[0] if a.dim() == 4 else a for a in attentions])  # (L, H, T, T)
    return AttentionMaps(
        tokens=tuple(tokens),
        array=stacked.detach().to(device="cpu", dtype=torch.float32).numpy(),
        special_mask=tuple(bool(s) for s in special_mask),
        masked_positions=tuple(int(p) for p in masked_positions),
    )


def compact(maps: AttentionMaps) -> AttentionMaps:
    """The same maps with a float16 array: half the bytes, for a session to keep and re-plot.

    A 512-token text's maps of the bundled model (6 layers x 12 heads x 512²) are 75 MB in
    float32 and 38 MB in float16. Attention weights lie in [0, 1], where float16 (11 significant
    bits, IEEE 754 binary16) is within 2⁻¹² ≈ 2.4e-4 of each weight: far below what a colour
    scale shows. Weights under float16's smallest normal (6.1e-5) keep an absolute error under
    3e-8. The views read the maps through :meth:`AttentionMaps.head`, :meth:`~AttentionMaps.layer_heads`
    (float32), :func:`mean_over_heads` and :func:`rollout` (float64 inside).
    """
    return replace(maps, array=maps.array.astype(np.float16))


def mean_over_heads(maps: AttentionMaps) -> np.ndarray:
    """(layers, T, T): the average of each layer's heads (rows still sum to 1)."""
    return maps.array.mean(axis=1, dtype=np.float64).astype(np.float32)


def rollout(maps: AttentionMaps, residual: float = 0.5) -> np.ndarray:
    """(layers, T, T): attention rollout up to and including each layer.

    ``rollout(maps)[-1]`` is the rollout through the whole network. ``residual``
    is the weight of the identity (the skip connection); 0.5 as in the paper.
    """
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual must be between 0 and 1, got {residual}.")
    heads_mean = maps.array.mean(axis=1, dtype=np.float64)  # (L, T, T)
    n = heads_mean.shape[-1]
    augmented = (1.0 - residual) * heads_mean + residual * np.eye(n)
    augmented /= augmented.sum(axis=-1, keepdims=True)
    out = np.empty_like(augmented)
    acc = np.eye(n)
    for layer, a in enumerate(augmented):
        acc = a @ acc  # Ã_l · ... · Ã_1 (Abnar & Zuidema, eq. in §3): layer l mixes what l-1 gathered
        out[layer] = acc
    return out.astype(np.float32)


def select_tokens(matrix: np.ndarray, keep: Sequence[bool]) -> np.ndarray:
    """Keep rows and columns where ``keep`` is True in the last two axes (e.g. hide specials).

    Rows are not re-normalised: what is shown is the share of attention that
    went to the kept tokens.
    """
    idx = np.flatnonzero(np.asarray(keep, dtype=bool))
    return matrix[..., idx[:, None], idx[None, :]]
