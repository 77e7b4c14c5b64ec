"""Attention with and without one word masked: what hiding a word re-routes.

- :func:`attention_change` — a sentence and the token positions to hide →
  :class:`AttentionChange`: the attention of every head on the sentence as
  written and with those tokens replaced by the mask token, their difference
  ``unmasked − masked`` as a ``(layers, heads, T, T)`` array, and per head the
  total absolute change (a ``(layers, heads)`` grid) to find the heads that
  react most.
- :func:`keep` — what a session keeps to re-plot a comparison
  (:class:`KeptChange`): the difference in float16 and the per-head totals,
  a quarter of the two float32 maps.

Both sequences have the same length (each hidden piece becomes one mask
token), so the maps align cell by cell. Extraction is the app's one path:
:func:`predict.forward` with ``with_attentions`` packed by
:func:`attention.attention_from_output`; this module adds the comparison
only. It does not plot and knows nothing of the UI.

Example::

    >>> ch = attention_change(lm, "The cat sat on the mat.", [2])     # doctest: +SKIP
    >>> ch.head_change.shape, float(ch.difference[0, 0].sum())        # doctest: +SKIP
    ((6, 12), 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlm_explorer.attention import AttentionMaps, attention_from_output
from mlm_explorer.models import LoadedModel
from mlm_explorer.predict import forward, manual_plan_for
from mlm_explorer.tokens import Encoding, display_tokens, encode


@dataclass(frozen=True, eq=False)
class AttentionChange:
    """Attention of one sentence as written and with some tokens masked."""

    model: str
    tokens: tuple[str, ...]  # the sentence as written (typed masks stay masks in both)
    masked_tokens: tuple[str, ...]  # what the model saw in the masked copy
    positions: tuple[int, ...]  # the positions hidden in the masked copy
    unmasked: AttentionMaps
    masked: AttentionMaps
    truncated: bool = False
    message: str = ""

    @property
    def difference(self) -> np.ndarray:
        """(layers, heads, T, T): unmasked − masked (each row sums to 0: rows of both sum to 1)."""
        return self.unmasked.array - self.masked.array

    @property
    def head_change(self) -> np.ndarray:
        """(layers, heads): the total absolute change of each head, summed over all T × T cells.

        Each row of a head moves at most 2 (all its weight from one place to
        another), so the largest possible total is ``2 T``.
        """
        return np.abs(self.difference).sum(axis=(2, 3), dtype=np.float64)

    def to_dict(self, with_maps: bool = True) -> dict:
        out = {
            "model": self.model,
            "tokens": list(self.tokens),
            "masked_tokens": list(self.masked_tokens),
            "positions": list(self.positions),
            "layers": self.unmasked.num_layers,
            "heads": self.unmasked.num_heads,
            "head_change": self.head_change.round(6).tolist(),
            "truncated": self.truncated,
            "message": self.message,
        }
        if with_maps:
            out["difference"] = self.difference.round(6).tolist()
        return out


@dataclass(frozen=True, eq=False)
class KeptChange:
    """The parts of an :class:`AttentionChange` its views re-plot, kept small (see :func:`keep`)."""

    tokens: tuple[str, ...]
    positions: tuple[int, ...]
    difference: np.ndarray  # (layers, heads, T, T) float16: unmasked − masked
    head_change: np.ndarray  # (layers, heads) float64, from the float32 maps


def keep(change: AttentionChange) -> KeptChange:
    """What a session keeps of ``change`` to re-plot any head: 1/4 of the bytes of its two maps.

    At 512 tokens the bundled model's two float32 maps are 151 MB; the difference in float16 is
    38 MB. A difference lies in [-1, 1], where float16 (11 significant bits) is within 2⁻¹² of
    it; the per-head totals are summed from the float32 maps first, so they are unchanged.
    """
    return KeptChange(
        tokens=change.tokens,
        positions=change.positions,
        difference=change.difference.astype(np.float16),
        head_change=change.head_change,
    )


def _maps(lm: LoadedModel, encoding: Encoding, ids: Sequence[int]) -> AttentionMaps:
    """One forward pass of ``ids`` packed as :class:`AttentionMaps` (as the Attention tab does)."""
    out = forward(lm, ids, with_attentions=True, positions=())
    masks = [i for i, t in enumerate(ids) if t == lm.mask_token_id]
    return attention_from_output(
        display_tokens(lm, ids),
        out.attentions,
        special_mask=[s and p not in masks for p, s in enumerate(encoding.special_mask)],
        masked_positions=masks,
    )


def attention_change(
    lm: LoadedModel, text: str, positions: Sequence[int], whole_word: bool = True
) -> AttentionChange:
    """Attention of ``text`` as written and with ``positions`` masked (whole words by default).

    With no position both passes see the same ids and the difference is 0.
    Raises ``ValueError`` for empty text or a position outside the text or on
    a special token.
    """
    encoding = encode(lm, text)
    plan = manual_plan_for(lm, encoding, [int(p) for p in positions], whole_word)
    hidden = tuple(p for p in plan.targets if p not in encoding.mask_positions)
    if positions and not hidden:  # only typed masks chosen: both passes would be the same, all zero
        raise ValueError(
            f"Position {', '.join(str(int(p)) for p in positions)} is already {lm.mask_token} in the text: "
            "there is no word to hide. Choose the position of a real word."
        )
    return AttentionChange(
        model=lm.name,
        tokens=encoding.tokens,
        masked_tokens=display_tokens(lm, plan.corrupted_ids),
        positions=hidden,
        unmasked=_maps(lm, encoding, encoding.input_ids),
        masked=_maps(lm, encoding, plan.corrupted_ids),
        truncated=encoding.truncated,
        message=encoding.message,
    )
