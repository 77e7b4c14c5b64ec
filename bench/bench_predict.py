"""predict() vs transformers' fill-mask pipeline on the same model and sentence.

predict returns more (entropy, the original's probability and rank, display
tokens); target: at most 1.0x the pipeline's time.

    python bench/bench_predict.py [--model DIR_OR_ID] [--threads 2]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median_seconds, parse_args, resolve_model  # noqa: E402

TEXT = "the children walked to [MASK] in the morning and the birds fly south in the winter ."


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    from mlm_explorer.predict import predict
    from mlm_explorer.tokens import normalise_masks

    hf_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = tempfile.TemporaryDirectory(dir=tmp_name)
        lm = resolve_model(args, tmp)
        text = normalise_masks(TEXT, lm.mask_token)
        fill = pipeline("fill-mask", model=lm.model, tokenizer=lm.tokenizer, device=lm.device)
        repeat = args.repeat or 50
        base = median_seconds(lambda: fill(text, top_k=5), repeat)
        ours = median_seconds(lambda: predict(lm, text, top_k=5), repeat)
        ours_att = median_seconds(lambda: predict(lm, text, top_k=5, with_attentions=True), repeat)
        n_tokens = len(lm.tokenizer(text)["input_ids"])
        print(f"model {lm.name} ({lm.num_layers} layers, vocab {lm.vocab_size}), {n_tokens} tokens, "
              f"{args.threads} threads, median of {repeat}")
        print(f"fill-mask pipeline          {base * 1e3:8.2f} ms")
        print(f"predict                     {ours * 1e3:8.2f} ms   ratio {ours / base:.2f}x (target <= 1.0x)")
        print(f"predict + attentions        {ours_att * 1e3:8.2f} ms   ratio {ours_att / base:.2f}x")


if __name__ == "__main__":
    main()
