"""Pretraining throughput: our loop against transformers' ``Trainer`` + ``DataCollatorForLanguageModeling``.

The same comparison as ``bench_finetune.py``, for :func:`mlm_explorer.pretrain.pretrain`
(the shared :func:`mlm_explorer.training.train` loop on packed rows): same
process, same model (a fresh copy each run), the same packed rows (``seq_len``
64, RoBERTa's FULL-SENTENCES packing), batch size, steps, learning rate,
AdamW betas/eps, warm-up share and masking rate. Runs alternate (ours,
Trainer, ...), the first of each is a warm-up; medians are reported.
Throughput counts non-padding tokens per second of the training loop only
(packing, the held-out evaluation and saving are outside the timed part, as
Trainer's set-up is).

    python bench/bench_pretrain.py                     # random MiniLM-sized BERT (6 x 384, 30k vocab)
    python bench/bench_pretrain.py --steps 8 --repeat 3 --model assets/model
    python bench/bench_pretrain.py --precision bf16    # both in bf16 autocast (Trainer: bf16=True)
    python bench/bench_pretrain.py --compare precision # ours in bf16 against ours in full precision
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import build_minilm_sized  # noqa: E402


def corpus_lines() -> list[str]:
    """The bundled sample texts, a line each (a few thousand short sentences once repeated)."""
    lines = []
    for path in sorted((ROOT / "assets" / "data").glob("*.txt")):
        lines += [s for s in (line.strip() for line in path.read_text(encoding="utf-8").splitlines()) if s]
    return lines


def run_ours(lm, packed, held, args, out_dir: Path, precision: str) -> float:
    from mlm_explorer.pretrain import PretrainConfig, pretrain

    config = PretrainConfig(
        seq_len=args.seq_len, batch_size=args.batch_size, lr=args.lr, max_steps=args.steps,
        eval_every=10**9, checkpoint_minutes=10**6, save_fp16=False, mixed_precision=precision,
    )
    model = copy.deepcopy(lm.model).train()
    result = pretrain(model, lm.tokenizer, packed, held, out_dir, config)
    return result.tokens_seen / result.seconds


def run_trainer(lm, packed, args, out_dir: str) -> float:
    import torch
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    from mlm_explorer.pretrain import PretrainConfig

    d = PretrainConfig()
    collator = DataCollatorForLanguageModeling(lm.tokenizer, mlm=True, mlm_probability=d.policy.rate)
    per_batch: list[int] = []

    def collate(rows):
        batch = collator(rows)
        per_batch.append(int(batch["attention_mask"].sum()))
        return batch

    pad = lm.tokenizer.pad_token_id
    dataset = [{"input_ids": [t for t in row.tolist() if t != pad]} for row in packed.input_ids]
    training = TrainingArguments(
        output_dir=out_dir, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr, warmup_steps=int(d.warmup * args.steps), lr_scheduler_type="linear",
        weight_decay=d.weight_decay,
        adam_beta1=d.betas[0], adam_beta2=d.betas[1], adam_epsilon=d.eps, max_grad_norm=d.clip,
        logging_strategy="no", save_strategy="no", report_to="none", disable_tqdm=True,
        dataloader_num_workers=0, dataloader_pin_memory=False, dataloader_drop_last=True,
        use_cpu=not torch.cuda.is_available(), seed=0, bf16=args.precision == "bf16",
    )
    model = copy.deepcopy(lm.model).train()
    trainer = Trainer(model=model, args=training, train_dataset=dataset, data_collator=collate)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    return sum(per_batch[: args.steps]) / seconds  # the loader fetches one batch ahead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder or hub id (default: a random MiniLM-sized BERT)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each (after one warm-up each)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, like a Space)")
    parser.add_argument("--precision", choices=("no", "bf16"), default="no",
                        help="both loops in this precision (default no: full precision)")
    parser.add_argument("--compare", choices=("trainer", "precision"), default="trainer",
                        help="baseline: Trainer (default), or our own loop in full precision against bf16")
    args = parser.parse_args()

    import torch
    import transformers

    from mlm_explorer.models import load_model
    from mlm_explorer.pretrain import pack_lines

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory()
    name = args.model or str(build_minilm_sized(Path(tmp.name) / "minilm-sized"))
    lm = load_model(name, device="cpu")
    lines = corpus_lines()
    packed = pack_lines(lm.tokenizer, lines * 4, args.seq_len, seed=0)
    held = pack_lines(lm.tokenizer, lines[:64], args.seq_len, seed=1)

    ours, theirs = [], []
    for i in range(args.repeat + 1):  # run 0 warms both up and is not counted
        if args.compare == "precision":
            o = run_ours(lm, packed, held, args, Path(tmp.name) / f"bf16-{i}", "bf16")
            t = run_ours(lm, packed, held, args, Path(tmp.name) / f"fp32-{i}", "no")
        else:
            o = run_ours(lm, packed, held, args, Path(tmp.name) / f"ours-{i}", args.precision)
            t = run_trainer(lm, packed, args, str(Path(tmp.name) / f"trainer-{i}"))
        if i:
            ours.append(o)
            theirs.append(t)
    new, base = ("bf16", "fp32") if args.compare == "precision" else ("ours", "trainer")
    report = {
        "model": "random MiniLM-sized BERT (6x384, 30522 vocab)" if not args.model else args.model,
        "device": "cuda" if torch.cuda.is_available() else f"cpu ({args.threads} threads)",
        "rows": len(packed), "seq_len": args.seq_len, "steps": args.steps, "batch_size": args.batch_size,
        "runs": args.repeat, "precision": "bf16 vs no" if args.compare == "precision" else args.precision,
        f"{new}_tokens_per_s": round(statistics.median(ours), 1),
        f"{base}_tokens_per_s": round(statistics.median(theirs), 1),
        "ratio": round(statistics.median(ours) / statistics.median(theirs), 2),
    }
    print(json.dumps(report, indent=2))
    if args.compare == "precision":
        print(f"bf16 / full-precision throughput of our loop: {report['ratio']:.2f}x")
    else:
        print(f"ours / Trainer throughput: {report['ratio']:.2f}x (target >= 1.0x)")


if __name__ == "__main__":
    main()
