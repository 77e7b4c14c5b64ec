"""The eager attention kernel against SDPA for passes that need no attention weights (e.g. Score).

The app loads models with eager attention because the Attention views need its
weights (transformers 5 returns none under SDPA). This times the encoder alone
on padded batches of a Score burst's shape, both kernels alternating on one
model (``set_attn_implementation``) in one process, and prints the medians,
their ratio and the largest difference of the hidden states at real tokens.

    python bench/bench_attention_kernel.py [--model DIR_OR_ID] [--threads 1] [--repeat 5]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import parse_args, resolve_model  # noqa: E402

# (tokens, rows): a class's masked copies of ~10-token sentences, and of the longest Score allows.
SHAPES = ((11, 512), (64, 128))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    import torch

    tmp = tempfile.TemporaryDirectory()
    lm = resolve_model(args, tmp)
    model, base = lm.model, lm.model.base_model
    shipped = model.config._attn_implementation
    print(f"{torch.get_num_threads()} thread(s); the encoder alone, medians of {args.repeat or 5}")
    for length, rows in SHAPES:
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(1000, lm.vocab_size, (rows, length), generator=g)
        lengths = torch.randint(length // 2, length + 1, (rows,), generator=g)
        mask = (torch.arange(length)[None] < lengths[:, None]).long()
        times: dict[str, list[float]] = {"eager": [], "sdpa": []}
        hidden = {}
        for i in range((args.repeat or 5) + 1):
            for kernel in times:
                model.set_attn_implementation(kernel)
                with torch.inference_mode():
                    start = time.perf_counter()
                    hidden[kernel] = base(input_ids=ids, attention_mask=mask)[0]
                    if i:  # the first round warms up
                        times[kernel].append(time.perf_counter() - start)
        model.set_attn_implementation(shipped)
        eager, sdpa = (statistics.median(times[k]) * 1000 for k in ("eager", "sdpa"))
        diff = (hidden["eager"] - hidden["sdpa"])[mask.bool()].abs().max().item()
        print(f"  {rows} rows x {length} tokens (padded): eager {eager:7.0f} ms  sdpa {sdpa:7.0f} ms  "
              f"ratio {eager / sdpa:4.2f}x  max |diff| {diff:.1e}")


if __name__ == "__main__":
    main()
