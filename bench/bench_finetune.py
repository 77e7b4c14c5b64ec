"""Fine-tuning throughput: our loop against transformers' ``Trainer`` + ``DataCollatorForLanguageModeling``.

Same process, same model (a copy of it each run), same token windows, batch
size, number of steps, learning rate and masking rate. Runs alternate
(ours, Trainer, ours, Trainer, ...) so machine drift hits both alike; the
median of each is reported. Throughput counts non-padding tokens per second
of the training loop only (tokenization and our before/after evaluation are
outside the timed part, as Trainer's setup is). Peak memory is the resident
set size above what the process used just before each run, sampled every
5 ms (on a GPU: ``torch.cuda.max_memory_allocated``).

    python bench/bench_finetune.py                       # random MiniLM-sized BERT (6 x 384, 30k vocab)
    python bench/bench_finetune.py --model assets/model --steps 40 --repeat 3
    python bench/bench_finetune.py --precision bf16    # both in bf16 autocast (Trainer: bf16=True)
    python bench/bench_finetune.py --compare precision # ours in bf16 against ours in full precision
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import build_minilm_sized  # noqa: E402


class PeakMemory:
    """Peak resident memory (bytes) above the level at entry, sampled in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss() - self.base)
            time.sleep(0.005)

    def __enter__(self):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        self.base = self.rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import torch

        self._stop.set()
        self._thread.join()
        if torch.cuda.is_available():
            self.peak = torch.cuda.max_memory_allocated()


def run_ours(lm, texts, args, precision: str) -> tuple[float, int, float]:
    from mlm_explorer.finetune import FinetuneConfig, finetune

    config = FinetuneConfig(
        steps=args.steps, lr=args.lr, batch_size=args.batch_size, rate=0.15, warmup=0.1, probe_every=0,
        max_length=args.max_length, heldout_fraction=0.0, precision=precision,
    )
    with PeakMemory() as mem:
        result = finetune(lm, texts, config)
    return result.tokens_per_second, mem.peak, result.seconds / result.steps


def run_trainer(lm, windows, args, out_dir: str) -> tuple[float, int, float]:
    import torch
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    collator = DataCollatorForLanguageModeling(lm.tokenizer, mlm=True, mlm_probability=0.15)
    per_batch: list[int] = []

    def collate(rows):
        batch = collator(rows)
        per_batch.append(int(batch["attention_mask"].sum()))
        return batch

    dataset = [{"input_ids": list(ids)} for ids in windows.input_ids]
    training = TrainingArguments(
        output_dir=out_dir, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr, warmup_steps=int(0.1 * args.steps), lr_scheduler_type="linear",
        weight_decay=0.01, max_grad_norm=1.0, logging_strategy="no", save_strategy="no", report_to="none",
        disable_tqdm=True, dataloader_num_workers=0, dataloader_pin_memory=False,
        use_cpu=not torch.cuda.is_available(), seed=0, bf16=args.precision == "bf16",
    )
    model = copy.deepcopy(lm.model).train()
    trainer = Trainer(model=model, args=training, train_dataset=dataset, data_collator=collate)
    with PeakMemory() as mem:
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    # The loader fetches one batch ahead; count only the batches trained on.
    return sum(per_batch[: args.steps]) / seconds, mem.peak, seconds / args.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder or hub id (default: a random MiniLM-sized BERT)")
    parser.add_argument("--data", default=str(ROOT / "assets" / "data" / "recipes.txt"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each (after one warm-up each)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, like a Space)")
    parser.add_argument("--precision", choices=("no", "bf16"), default="no",
                        help="both loops in this precision (default no: full precision)")
    parser.add_argument("--compare", choices=("trainer", "precision"), default="trainer",
                        help="baseline: Trainer (default), or our own loop in full precision against bf16")
    args = parser.parse_args()

    import torch
    import transformers

    from mlm_explorer.data import read_file, tokenize_windows
    from mlm_explorer.models import load_model

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory()
    name = args.model or str(build_minilm_sized(Path(tmp.name) / "minilm-sized"))
    lm = load_model(name)
    texts = read_file(args.data).examples
    windows = tokenize_windows(texts, lm.tokenizer, min(lm.max_length, args.max_length))

    ours, theirs = [], []
    for i in range(args.repeat + 1):  # run 0 warms both up and is not counted
        if args.compare == "precision":
            o, t = run_ours(lm, texts, args, "bf16"), run_ours(lm, texts, args, "no")
        else:
            o = run_ours(lm, texts, args, args.precision)
            t = run_trainer(lm, windows, args, str(Path(tmp.name) / f"trainer-{i}"))
        if i:
            ours.append(o)
            theirs.append(t)
    ours_tps = statistics.median(x[0] for x in ours)
    theirs_tps = statistics.median(x[0] for x in theirs)
    new, base = ("bf16", "fp32") if args.compare == "precision" else ("ours", "trainer")
    report = {
        "model": "random MiniLM-sized BERT (6x384, 30522 vocab)" if not args.model else args.model,
        "device": "cuda" if torch.cuda.is_available() else f"cpu ({args.threads} threads)",
        "data": Path(args.data).name, "windows": len(windows.input_ids), "steps": args.steps,
        "batch_size": args.batch_size, "runs": args.repeat,
        "precision": "bf16 vs no" if args.compare == "precision" else args.precision,
        f"{new}_tokens_per_s": round(ours_tps, 1), f"{base}_tokens_per_s": round(theirs_tps, 1),
        "ratio": round(ours_tps / theirs_tps, 2),
        f"{new}_s_per_step": round(statistics.median(x[2] for x in ours), 3),
        f"{base}_s_per_step": round(statistics.median(x[2] for x in theirs), 3),
        f"{new}_peak_mb": round(max(x[1] for x in ours) / 2**20, 1),
        f"{base}_peak_mb": round(max(x[1] for x in theirs) / 2**20, 1),
    }
    print(json.dumps(report, indent=2))
    if args.compare == "precision":
        print(f"bf16 / full-precision throughput of our loop: {report['ratio']:.2f}x")
    else:
        print(f"ours / Trainer throughput: {report['ratio']:.2f}x (target >= 1.0x)")

if __name__ == "__main__":
    main()
