"""Batched pseudo-log-likelihood vs the naive one-forward-pass-per-token loop.

A 40-token sentence (special tokens included); target: at least 5x faster.

    python bench/bench_pll.py [--model DIR_OR_ID] [--threads 2]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median_seconds, parse_args, resolve_model  # noqa: E402

SENTENCE = (
    "the children walked to school in the morning and the birds fly south in the winter , "
    "while a man went to the store to buy milk and the woman worked as a nurse at the hospital "
    "in the beautiful city of paris in france every day ."
)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    import torch

    from mlm_explorer.predict import pseudo_log_likelihood

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = tempfile.TemporaryDirectory(dir=tmp_name)
        lm = resolve_model(args, tmp)
        # 38 words that are single tokens of a BERT vocabulary + [CLS] + [SEP] = 40 tokens.
        text = " ".join(SENTENCE.split()[:38])
        n_tokens = len(lm.tokenizer(text)["input_ids"])

        @torch.inference_mode()
        def naive() -> float:
            total = 0.0
            base = lm.tokenizer(text)["input_ids"]
            for i, token in enumerate(base):
                if token in lm.special_ids:
                    continue
                copy = list(base)
                copy[i] = lm.mask_token_id
                logits = lm.model(input_ids=torch.tensor([copy])).logits[0, i]
                total += float(torch.log_softmax(logits, -1)[token])
            return total

        repeat = args.repeat or 5
        check = abs(naive() - pseudo_log_likelihood(lm, text).pll)
        base = median_seconds(naive, repeat, warmup=1)
        ours = median_seconds(lambda: pseudo_log_likelihood(lm, text), repeat, warmup=1)
        print(f"model {lm.name} ({lm.num_layers} layers, vocab {lm.vocab_size}), {n_tokens} tokens, "
              f"{args.threads} threads, median of {repeat}; |PLL difference| {check:.2e}")
        print(f"naive loop (1 pass/token)   {base * 1e3:8.1f} ms")
        speedup = base / ours
        print(f"batched PLL                 {ours * 1e3:8.1f} ms   speed-up {speedup:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
