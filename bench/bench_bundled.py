"""Forward-pass latency of the bundled encoder on a 16-token sentence, with attentions.

Target (issue: bundled encoder): under 40 ms median on 2 CPU cores. Baseline in
the same process: the same weights under transformers' default (sdpa)
attention, logits at every position and no attentions, i.e. what a plain
``model(ids)`` costs. Ours is what the app's Predict runs: one eager pass that
keeps the attentions and projects onto the 30,522-token vocabulary only at the
masked position (that projection reads a 47 MB matrix: half the time of a
full-position pass on a CPU).

    python bench/bench_bundled.py [--model assets/model] [--threads 2] [--repeats 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForMaskedLM

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlm_explorer.models import BUNDLED_MODEL_DIR, load_model  # noqa: E402
from mlm_explorer.predict import forward  # noqa: E402

SENTENCE = "The children walked to school in the morning and [MASK] all their friends."


def median_ms(fn, repeats: int) -> tuple[float, float]:
    for _ in range(5):  # warm-up: allocator, kernels
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(BUNDLED_MODEL_DIR))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    lm = load_model(args.model)
    ids = lm.tokenizer(SENTENCE.replace("[MASK]", lm.mask_token))["input_ids"]
    ids = ids[:16]
    print(f"model {args.model}: {len(ids)} tokens, {args.threads} threads, {args.repeats} repeats")

    baseline = AutoModelForMaskedLM.from_pretrained(args.model, dtype=torch.float32).eval()
    tensor = torch.tensor([ids])

    def plain() -> None:
        with torch.inference_mode():
            baseline(tensor)

    masked = [i for i, t in enumerate(ids) if t == lm.mask_token_id]

    def ours() -> None:
        # what one "Predict" costs: one pass, attentions kept, vocabulary
        # projection only at the masked position (see predict.forward)
        forward(lm, ids, with_attentions=True, positions=masked)

    base_med, base_p95 = median_ms(plain, args.repeats)
    our_med, our_p95 = median_ms(ours, args.repeats)
    print(f"baseline (sdpa, no attentions): median {base_med:.1f} ms  p95 {base_p95:.1f} ms")
    print(f"ours (eager, with attentions, logits at the mask): median {our_med:.1f} ms  p95 {our_p95:.1f} ms")
    print(f"ratio ours/baseline: {our_med / base_med:.2f}x   target: median < 40 ms -> "
          f"{'met' if our_med < 40 else 'NOT met'}")


if __name__ == "__main__":
    main()
