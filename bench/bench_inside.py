"""Looking inside a prediction: what the layer-by-layer and saliency views cost.

- layer by layer vs one ``predict`` on the same sentence (target <= 1.3x: it
  is one forward pass plus the head on L + 1 rows);
- ``saliency`` at 32 Integrated-Gradients steps (grad x input included) vs
  32 forward+backward passes in a plain loop, as a hand-written IG would do
  (target <= 1.0x: the steps go through the model as one batch).

Default: the bundled model and a 16-token sentence, 2 torch threads, medians.

    python bench/bench_inside.py [--model DIR_OR_ID] [--threads 2] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TEXT = "the children walked to [MASK] in the morning and the birds fly south ."  # 16 tokens with BERT's
STEPS = 32


def _paired_medians(fn_a, fn_b, repeat: int, warmup: int = 1) -> tuple[float, float]:
    """Median seconds of ``fn_a`` and ``fn_b``, run alternately so load on a shared machine hits both."""
    for _ in range(warmup):
        fn_a()
        fn_b()
    times_a, times_b = [], []
    for _ in range(repeat):
        for fn, times in ((fn_a, times_a), (fn_b, times_b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(times_a), statistics.median(times_b)


def _plain_loop(lm, ids: list[int], position: int, target_id: int, steps: int) -> None:
    """``steps`` forward+backward passes of one interpolated sentence each (a hand-written IG)."""
    import torch

    from mlm_explorer.predict import mlm_head

    head = mlm_head(lm)
    ids_t = torch.tensor([ids])
    base_t = torch.tensor([[t if t in lm.special_ids else lm.mask_token_id for t in ids]])
    lookup = lm.model.get_input_embeddings()
    with torch.no_grad():
        emb, base = lookup(ids_t), lookup(base_t)
    mask = torch.ones_like(ids_t)
    for k in range(steps):
        alpha = (k + 0.5) / steps
        point = (base + alpha * (emb - base)).requires_grad_(True)
        hidden = lm.model.base_model(inputs_embeds=point, attention_mask=mask)[0][:, position]
        log_p = torch.log_softmax(head(hidden), dim=-1)[0, target_id]
        torch.autograd.grad(log_p, point)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="assets/model", help="model folder or hub id (default: bundled)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, like a Space)")
    parser.add_argument("--repeat", type=int, default=0, help="timed runs (default 30 and 7)")
    args = parser.parse_args()

    import torch

    from mlm_explorer.lens import layer_by_layer
    from mlm_explorer.models import load_model
    from mlm_explorer.predict import predict
    from mlm_explorer.saliency import saliency
    from mlm_explorer.tokens import encode

    torch.set_num_threads(args.threads)
    lm = load_model(args.model, device="cpu")
    enc = encode(lm, TEXT)
    position = enc.mask_positions[0]
    print(f"model {args.model} ({lm.num_layers} layers, vocab {lm.vocab_size}), {len(enc)} tokens, "
          f"{args.threads} threads")

    repeat = args.repeat or 30
    t_predict, t_layers = _paired_medians(
        lambda: predict(lm, TEXT, top_k=5), lambda: layer_by_layer(lm, TEXT, top_k=5), repeat, warmup=3
    )
    print(f"predict                     {t_predict * 1e3:8.1f} ms  (median of {repeat})")
    print(f"layer by layer              {t_layers * 1e3:8.1f} ms  ratio {t_layers / t_predict:.2f}x "
          "(target <= 1.3x)")

    repeat = args.repeat or 7
    target_id = predict(lm, TEXT, top_k=1).predictions[0].top_k[0].id
    t_loop, t_sal = _paired_medians(
        lambda: _plain_loop(lm, list(enc.input_ids), position, target_id, STEPS),
        lambda: saliency(lm, TEXT, steps=STEPS), repeat,
    )
    print(f"{STEPS} fwd+bwd, plain loop     {t_loop * 1e3:8.1f} ms  (median of {repeat})")
    print(f"saliency, {STEPS} IG steps       {t_sal * 1e3:8.1f} ms  ratio {t_sal / t_loop:.2f}x "
          "(target <= 1.0x; grad x input included)")
    print(f"saliency / one predict      {t_sal / t_predict:8.1f}x  (what the app tells a user it costs)")


if __name__ == "__main__":
    main()
