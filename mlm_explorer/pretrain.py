"""Masked-LM pretraining of a small encoder: warm start or from scratch.

This is what makes the bundled ``assets/model`` and what lets a user train
("self-train") an encoder on a corpus of their own:

- ``--init DIR``: a warm start from any BERT-style folder (for the bundled
  model, the all-MiniLM-L6-v2 sentence encoder, which has no MLM head): the
  encoder weights are loaded under the model's base prefix; a folder that
  has a trained MLM head (a masked LM, e.g. the bundled model itself) keeps
  it, otherwise a new head is added with its decoder tied to the word
  embeddings; the report says which weights were loaded and which are new;
- ``--from-scratch``: a WordPiece tokenizer is trained on the corpus first
  (``tokenizers``), then a randomly initialised BERT of the given size.

Training follows BERT and RoBERTa practice: lines are packed
``[CLS] a [SEP] b [SEP] ...`` up to ``seq_len`` tokens (RoBERTa's FULL-SENTENCES,
Liu et al. 2019, §4.2); the 80/10/10 policy of :mod:`mlm_explorer.masking` is
drawn afresh for every batch (dynamic masking, ibid. §4.1); AdamW with betas
(0.9, 0.98), eps 1e-6 (RoBERTa, Table 9). The loop itself (loss at the targets
only, AdamW groups, warm-up and linear decay over a step or time budget,
clipping, ``accelerate``: a CPU, one GPU in bf16, or ``accelerate launch`` on
several) is :func:`mlm_explorer.training.train`, shared with fine-tuning.

Checkpoints (model, optimizer, step, elapsed time) are written at a fixed
interval and ``--resume`` continues from the last one. The model with the
lowest held-out loss is what gets saved. ``on_step`` returning ``False`` stops
a run early (the best model so far is saved).

This module does not build the corpus (see :mod:`mlm_explorer.corpus`).
"""

from __future__ import annotations

import gzip
import json
import platform
import random
import sys
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from mlm_explorer.masking import PolicyConfig, frequency_weights, replacement_candidates
from mlm_explorer.training import (
    MaskingCollator,
    Metrics,
    Resume,
    ScratchSize,
    Step,
    TrainConfig,
    cpu_has_bf16,
    evaluate,
    resolve_precision,
    save_model,
    train,
)

#: Packed rows are at most this long: a BERT-style encoder's position embeddings stop at 512.
MAX_SEQ_LEN = 512
#: [CLS], one token and [SEP], and one more so a row can hold a word.
MIN_SEQ_LEN = 4


@dataclass(frozen=True)
class PretrainConfig:
    """Settings of one pretraining run; defaults are the bundled model's recipe on a CPU."""

    seq_len: int = 64  # packed sequence length; cloze sentences are short, so 64 covers several.
    batch_size: int = 64  # sequences per optimizer step.
    lr: float = 1e-4  # peak learning rate; 1e-4 is BERT's, and safe for a warm start.
    warmup: float = 0.06  # share of the budget spent warming up (RoBERTa: 6%).
    weight_decay: float = 0.01  # on weight matrices only, not biases or LayerNorm (BERT).
    betas: tuple[float, float] = (0.9, 0.98)  # RoBERTa's beta2 is steadier with large batches.
    eps: float = 1e-6  # RoBERTa, Table 9.
    clip: float = 1.0  # gradient-norm clipping (BERT).
    max_steps: int | None = None  # a step budget; the schedule spans it.
    minutes: float | None = None  # a time budget; used when max_steps is None.
    eval_every: int = 200  # steps between held-out evaluations (and best-model checks).
    checkpoint_minutes: float = 10.0  # wall-clock interval between resumable checkpoints.
    seed: int = 0  # packing order, masking and dropout all derive from it.
    policy: PolicyConfig = field(default_factory=PolicyConfig)  # the 80/10/10 policy (BERT §3.1).
    # Mask frequent tokens less: selection weight min(1, sqrt(t / f)) with this t (see
    # masking.frequency_weights; 1e-3 affects about the 70 commonest tokens). None: uniform (BERT).
    frequent_threshold: float | None = None
    mixed_precision: str = "auto"  # "auto": bf16 where the chip has it natively (see resolve_precision).
    save_fp16: bool = True  # halves the folder (fp16 loads back as fp32 on a CPU).


@dataclass(frozen=True)
class InitReport:
    """Which weights came from the starting encoder and which are new."""

    source: str
    loaded: tuple[str, ...]
    new: tuple[str, ...]
    unused: tuple[str, ...]


@dataclass(frozen=True)
class PretrainResult:
    """What a run produced."""

    out_dir: Path
    steps: int
    seconds: float
    tokens_seen: int
    best: Metrics | None
    history: tuple[Metrics, ...]
    train_losses: tuple[tuple[int, float], ...]
    init: InitReport | None
    stopped: str = "completed"  # "completed", "time budget" or "stopped" (on_step returned False)
    precision: str = "no"  # what config.mixed_precision meant on this machine: "bf16" or "no"


# --------------------------------------------------------------------------- data


def read_lines(paths: Sequence[Path]) -> list[str]:
    """Non-empty lines of plain or gzipped text files, in order."""
    lines: list[str] = []
    for path in paths:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            lines.extend(s for s in (line.strip() for line in handle) if s)
    if not lines:
        raise ValueError("The corpus is empty: give at least one file with text lines.")
    return lines


def train_wordpiece(lines: Iterable[str], out_dir: Path, vocab_size: int, max_length: int):
    """Train a BERT-style uncased WordPiece tokenizer and return it as a fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(lines, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    # Wrapping a trained tokenizers object (not vocab_file=...) avoids the
    # transformers 5 trap of a silently tiny vocabulary.
    fast = BertTokenizerFast(tokenizer_object=tok, model_max_length=max_length)
    fast.save_pretrained(out_dir)
    return fast


@dataclass(frozen=True)
class Packed:
    """Packed training sequences: ids and word index per token (-1 at special tokens)."""

    input_ids: torch.Tensor  # (N, seq_len) long, padded with pad id
    word_ids: torch.Tensor  # (N, seq_len) long
    special: torch.Tensor  # (N, seq_len) bool: [CLS], [SEP] and padding

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def _as_rows(values: array, seq_len: int) -> torch.Tensor:
    """Flat 8-byte values → a (rows, seq_len) long tensor that owns its memory."""
    if not values:
        return torch.empty((0, seq_len), dtype=torch.long)
    return torch.frombuffer(values, dtype=torch.long).reshape(-1, seq_len).clone()


def pack_lines(tokenizer, lines: Sequence[str], seq_len: int, seed: int, chunk: int = 10_000) -> Packed:
    """Tokenize lines and pack them ``[CLS] a [SEP] b [SEP] ...`` into ``seq_len`` rows.

    Line order is shuffled once with ``seed`` so neighbours in a row are
    unrelated (as across documents in RoBERTa's packing); a line longer than a
    row is cut into row-sized pieces, never dropped. Lines are tokenized ``chunk``
    at a time and rows kept in flat 8-byte arrays: tokenizing a whole corpus at
    once held a Python list per line plus every line's ``Encoding`` (offsets,
    token strings), several GB for the bundled model's 440k lines, and the
    allocator kept that memory for the rest of the run. ``chunk`` does not change
    the result.
    """
    cls_id, sep_id, pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    order = list(range(len(lines)))
    random.Random(seed).shuffle(order)
    room = seq_len - 2
    rows_ids, rows_words = array("q"), array("q")  # seq_len values per row
    ids, words, next_word = [cls_id], [-1], 0

    def flush() -> None:
        nonlocal ids, words, next_word
        if len(ids) > 1:
            rows_ids.extend(ids + [pad_id] * (seq_len - len(ids)))
            rows_words.extend(words + [-1] * (seq_len - len(words)))
        ids, words, next_word = [cls_id], [-1], 0

    chunk = max(1, chunk)
    for begin in range(0, len(order), chunk):
        enc = tokenizer([lines[i] for i in order[begin : begin + chunk]], add_special_tokens=False,
                        return_attention_mask=False, return_token_type_ids=False)
        for k, piece_ids in enumerate(enc["input_ids"]):
            line_words = enc.word_ids(k)
            for start in range(0, len(piece_ids), room):
                part = piece_ids[start : start + room]
                part_words = line_words[start : start + room]
                if len(ids) + len(part) + 1 > seq_len:
                    flush()
                base = next_word - (part_words[0] or 0)
                ids.extend(part + [sep_id])
                words.extend([(w or 0) + base for w in part_words] + [-1])
                next_word = max(words) + 1
    flush()
    input_ids, word_ids = _as_rows(rows_ids, seq_len), _as_rows(rows_words, seq_len)
    special = (input_ids == cls_id) | (input_ids == sep_id) | (input_ids == pad_id)
    return Packed(input_ids, word_ids, special)


def candidate_ids_for(tokenizer) -> torch.Tensor:
    """Random-replacement ids: the vocabulary less special tokens and BERT's ``[unusedN]``."""
    from mlm_explorer.models import unused_token_ids

    excluded = sorted(set(tokenizer.all_special_ids) | set(unused_token_ids(tokenizer)))
    return replacement_candidates(len(tokenizer), excluded)


# -------------------------------------------------------------------------- model


def warm_start(init_dir: Path):
    """A masked LM whose weights come from ``init_dir``, with a tied MLM head.

    Works for any folder with a config.json and safetensors weights, prefixed
    (``bert.encoder...``) or not (``encoder...``, as sentence-transformers
    saves). A head already there (``cls.predictions...``, a masked LM such as
    the bundled model) is loaded too, so continued pretraining starts from what
    the model knows; only a missing head is new.
    """
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer

    config = AutoConfig.from_pretrained(init_dir)
    config.tie_word_embeddings = True
    # fp32 whatever the folder's dtype: the bundled model is stored in fp16 (see save_fp16).
    model = AutoModelForMaskedLM.from_config(config, attn_implementation="eager").float()
    prefix = model.base_model_prefix
    weights = sorted(Path(init_dir).glob("*.safetensors"))
    if not weights:
        raise ValueError(f"{init_dir} has no .safetensors weights to start from.")
    state: dict[str, torch.Tensor] = {}
    for path in weights:
        state.update(load_file(path))
    own = model.state_dict()

    def own_name(key: str) -> str:  # "cls.predictions..." is ours as it is; "encoder..." lacks the prefix
        return key if key in own or key.startswith(prefix + ".") else f"{prefix}.{key}"

    mapped = {}
    for key, tensor in state.items():
        name = own_name(key)
        if name in own and own[name].shape == tensor.shape:
            mapped[name] = tensor.float()
    model.load_state_dict(mapped, strict=False)
    model.tie_weights()
    unused = tuple(sorted(k for k in state if own_name(k) not in mapped))
    # A tied decoder shares the loaded embedding matrix: it is not new.
    loaded_ptrs = {t.data_ptr() for k, t in model.state_dict().items() if k in mapped}
    new = tuple(sorted(k for k, t in model.state_dict().items()
                       if k not in mapped and t.data_ptr() not in loaded_ptrs))
    tokenizer = AutoTokenizer.from_pretrained(init_dir)
    report = InitReport(source=str(init_dir), loaded=tuple(sorted(mapped)), new=new, unused=unused)
    return model, tokenizer, report


def from_scratch(tokenizer, size: ScratchSize, seq_len: int):
    """A randomly initialised BERT masked LM of ``size`` for ``tokenizer``."""
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        intermediate_size=size.intermediate,
        max_position_embeddings=max(512, seq_len),
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return BertForMaskedLM(config)


def packed_collator(packed: Packed, tokenizer, candidates: torch.Tensor, policy: PolicyConfig,
                    seed: int, id_weights: torch.Tensor | None = None) -> MaskingCollator:
    """Batches of packed rows masked by ``policy`` (whole words where it asks), masks seeded by ``seed``."""
    return MaskingCollator(packed.input_ids, packed.special, tokenizer.pad_token_id, tokenizer.mask_token_id,
                           candidates, policy, torch.Generator().manual_seed(seed), word_ids=packed.word_ids,
                           id_weights=id_weights)


def token_counts(packed: Packed, vocab_size: int) -> torch.Tensor:
    """How often each id occurs in ``packed`` outside special tokens and padding: (vocab_size,) long."""
    return torch.bincount(packed.input_ids[~packed.special], minlength=vocab_size)[:vocab_size]


def heldout_metrics(model, packed: Packed, tokenizer, candidates: torch.Tensor, policy: PolicyConfig,
                    step: int, seed: int = 1234, batch_size: int = 128,
                    id_weights: torch.Tensor | None = None) -> Metrics:
    """Held-out masked-token loss and top-1 accuracy, with masking fixed by ``seed``.

    ``id_weights`` are the training run's selection weights: the checkpoint is chosen on the
    targets that training aims at.
    """
    collate = packed_collator(packed, tokenizer, candidates, policy, seed, id_weights)
    return evaluate(model, collate.fixed_batches(batch_size), step)


def _save_checkpoint(
    path: Path,
    model,
    optimizer,
    step: int,
    elapsed: float,
    tokens: int,
    best_state,
    best: Metrics | None,
    history,
    losses,
) -> None:
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / "state.pt.tmp"
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "elapsed": elapsed,
            "tokens": tokens,
            "best_state": best_state,
            "best": asdict(best) if best else None,
            "history": [asdict(h) for h in history],
            "losses": list(losses),
        },
        tmp,
    )
    tmp.replace(path / "state.pt")  # atomic: a kill mid-write leaves the last good checkpoint


def pretrain(
    model,
    tokenizer,
    train_rows: Packed,
    heldout: Packed,
    out_dir: Path,
    config: PretrainConfig,
    on_step: Callable[[int, float, float], bool | None] | None = None,
    resume: bool = False,
    init: InitReport | None = None,
) -> PretrainResult:
    """Train ``model`` on ``train_rows`` and save the best (lowest held-out loss) to ``out_dir``.

    ``on_step(step, loss, progress)`` is called after every optimizer step;
    returning ``False`` stops the run after that step (the best so far is saved).
    """
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration

    if config.max_steps is None and config.minutes is None:
        raise ValueError("Give a budget: max_steps or minutes.")
    if len(train_rows) < config.batch_size:
        raise ValueError(
            f"The corpus packs into {len(train_rows)} rows, fewer than one batch of {config.batch_size}."
        )
    precision = resolve_precision(config.mixed_precision, torch.cuda.is_available(), cpu_has_bf16())
    # split_batches: under `accelerate launch`, N processes share each batch of `batch_size` rows
    # (DistributedDataParallel averages their gradients), so the recipe does not change with N.
    accelerator = Accelerator(dataloader_config=DataLoaderConfiguration(split_batches=True))
    if config.batch_size % accelerator.num_processes:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the "
                         f"{accelerator.num_processes} processes.")
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
    candidates = candidate_ids_for(tokenizer)
    id_weights = None if config.frequent_threshold is None else frequency_weights(
        token_counts(train_rows, len(tokenizer)), config.frequent_threshold)
    ckpt_dir = out_dir / "checkpoint"
    start = Resume(step=0, elapsed=0.0, tokens=0)
    best: Metrics | None = None
    best_state = None
    history: list[Metrics] = []
    losses: list[tuple[int, float]] = []
    def log_progress(message: str) -> None:
        # stderr, once: stdout is the CLI's result (`pretrain --json` must print JSON alone).
        if accelerator.is_main_process:
            print(message, file=sys.stderr, flush=True)

    if resume and (ckpt_dir / "state.pt").exists():
        state = torch.load(ckpt_dir / "state.pt", map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        start = Resume(state["step"], state["elapsed"], state["tokens"], state["optimizer"])
        best_state = state["best_state"]
        best = Metrics(**state["best"]) if state["best"] else None
        history = [Metrics(**h) for h in state["history"]]
        losses = [tuple(x) for x in state["losses"]]
        log_progress(f"resumed at step {start.step} ({start.elapsed / 60:.1f} min)")
    model.to(accelerator.device)

    def check_heldout(step: int) -> None:
        nonlocal best, best_state
        metrics = heldout_metrics(model, heldout, tokenizer, candidates, config.policy, step,
                                  id_weights=id_weights)
        history.append(metrics)
        if best is None or metrics.loss < best.loss:
            best = metrics
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        log_progress(
            f"step {step}: held-out loss {metrics.loss:.3f} acc {metrics.accuracy:.3f}"
            f" (best {best.accuracy:.3f} at {best.step})"
        )

    last_ckpt = time.perf_counter()

    def after_step(s: Step) -> bool | None:
        nonlocal last_ckpt
        losses.append((s.step, s.loss))
        verdict = on_step(s.step, s.loss, s.progress) if on_step is not None else None
        if s.step % config.eval_every == 0:
            check_heldout(s.step)
        if time.perf_counter() - last_ckpt > config.checkpoint_minutes * 60 and accelerator.is_main_process:
            tokens = start.tokens + int(s.tokens_per_second * (s.elapsed - start.elapsed))
            _save_checkpoint(ckpt_dir, model, s.optimizer, s.step, s.elapsed, tokens, best_state, best,
                             history, losses)
            last_ckpt = time.perf_counter()
        return verdict

    # Each epoch a new shuffle; each process (and each resumed part) draws its own masks.
    epoch = start.step // max(1, len(train_rows) // config.batch_size)
    collate = packed_collator(train_rows, tokenizer, candidates, config.policy,
                              (config.seed * 1_000_003 + start.step) * 64 + accelerator.process_index,
                              id_weights)
    loader = torch.utils.data.DataLoader(
        list(range(len(train_rows))), batch_size=config.batch_size, shuffle=True, drop_last=True,
        collate_fn=collate, generator=torch.Generator().manual_seed(config.seed * 7919 + epoch),
    )
    budget = TrainConfig(
        lr=config.lr, warmup=config.warmup, weight_decay=config.weight_decay, clip=config.clip,
        betas=config.betas, eps=config.eps, max_steps=config.max_steps,
        max_seconds=None if config.max_steps is not None else config.minutes * 60, seed=config.seed,
        bf16=precision == "bf16",
    )
    done = train(model, loader, budget, accelerator, after_step, resume=start)
    if not history or history[-1].step != done.steps:
        check_heldout(done.steps)

    if best_state is not None:
        model.load_state_dict(best_state)
    if accelerator.is_main_process:
        save_model(model, tokenizer, out_dir, fp16=config.save_fp16)
    return PretrainResult(
        out_dir=out_dir, steps=done.steps, seconds=done.seconds, tokens_seen=done.tokens, best=best,
        history=tuple(history), train_losses=tuple(losses), init=init, stopped=done.stopped,
        precision=precision,
    )


def write_model_card(
    out_dir: Path,
    result: PretrainResult,
    config: PretrainConfig,
    corpus: Sequence[str],
    extra: dict | None = None,
) -> Path:
    """``MODEL_CARD.md`` and ``training.json``: data, licences, settings, time and metrics."""
    best = result.best
    info = {
        "steps": result.steps,
        "minutes": round(result.seconds / 60, 2),
        "tokens_seen": result.tokens_seen,
        "heldout": best.to_dict() if best else None,
        "config": asdict(config),
        "corpus": list(corpus),
        "init": result.init.source if result.init else "from scratch",
        "init_new_weights": list(result.init.new) if result.init else None,
        "device": torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "precision": result.precision,
    } | (extra or {})
    (out_dir / "training.json").write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    lines = [
        "# Model card",
        "",
        "A BERT-style masked language model trained with `python -m mlm_explorer pretrain`.",
        "",
        "## Training",
        f"- start: {info['init']}",
        f"- corpus: {', '.join(corpus)}",
        f"- steps: {result.steps}, time: {info['minutes']} min on {info['device']}, "
        f"tokens seen: {result.tokens_seen:,}",
        f"- sequence length {config.seq_len}, batch {config.batch_size}, peak lr {config.lr}, "
        f"warm-up {config.warmup:.0%}, linear decay, AdamW betas {config.betas}, "
        f"weight decay {config.weight_decay}",
        f"- masking: {config.policy.rate:.0%} of tokens selected, {config.policy.mask_share:.0%} mask / "
        f"{config.policy.random_share:.0%} random / {config.policy.keep_share:.0%} kept"
        + (", whole-word" if config.policy.whole_word else "")
        + (f", frequent tokens masked less (t = {config.frequent_threshold:g}; the held-out loss "
           "below is on targets drawn the same way)" if config.frequent_threshold else ""),
        "",
        "## Held-out metrics (best checkpoint)",
    ]
    if best:
        lines += [
            f"- masked-token accuracy: {best.accuracy:.3f} over {best.targets:,} targets",
            f"- loss: {best.loss:.3f} (perplexity {best.perplexity:.1f}), at step {best.step}",
        ]
    for key, value in (extra or {}).items():
        lines.append(f"- {key}: {value}")
    path = out_dir / "MODEL_CARD.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_pretraining(
    corpus: Sequence[Path],
    out_dir: Path,
    config: PretrainConfig,
    init_dir: Path | None = None,
    scratch: ScratchSize | None = None,
    heldout: Sequence[Path] = (),
    heldout_share: float = 0.02,
    resume: bool = False,
    on_step: Callable[[int, float, float], bool | None] | None = None,
    log: Callable[[str], None] = print,
) -> PretrainResult:
    """Everything ``python -m mlm_explorer pretrain`` does: data, model, training, card.

    Exactly one of ``init_dir`` (warm start) and ``scratch`` (from scratch) is given.
    Without ``heldout`` files, a fixed ``heldout_share`` of the corpus lines is held out.
    """
    if (init_dir is None) == (scratch is None):
        raise ValueError("Choose one start: --init ENCODER_DIR or --from-scratch.")
    lines = read_lines(corpus)
    if heldout:
        held_lines = read_lines(heldout)
    else:
        rng = random.Random(config.seed)
        flags = [rng.random() < heldout_share for _ in lines]
        held_lines = [line for line, h in zip(lines, flags, strict=True) if h]
        lines = [line for line, h in zip(lines, flags, strict=True) if not h]
        if not held_lines:
            held_lines, lines = lines[:1], lines[1:]
    log(f"corpus: {len(lines):,} training lines, {len(held_lines):,} held out")
    replaced = sum("\ufffd" in line for line in (*lines, *held_lines))
    if replaced:  # read_lines decodes bad bytes as U+FFFD: say so, as fine-tuning's reader does
        log(f"note: {replaced:,} line(s) were not valid UTF-8 (or hold U+FFFD); their bad bytes read as "
            "\ufffd. Save the corpus as UTF-8.")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = None
    if init_dir is not None:
        model, tokenizer, report = warm_start(init_dir)
        log(
            f"warm start from {init_dir}: {len(report.loaded)} tensors loaded, "
            f"new: {', '.join(report.new) or 'none'}"
        )
    else:
        tokenizer = train_wordpiece(lines, out_dir, scratch.vocab_size, max_length=512)
        model = from_scratch(tokenizer, scratch, config.seq_len)
        log(f"from scratch: vocabulary {len(tokenizer):,}, {scratch.layers} layers, hidden {scratch.hidden}")
    tokenizer.model_max_length = min(int(getattr(tokenizer, "model_max_length", 512) or 512), 512)
    train = pack_lines(tokenizer, lines, config.seq_len, config.seed)
    held = pack_lines(tokenizer, held_lines, config.seq_len, config.seed + 1)
    log(f"packed: {len(train):,} training rows, {len(held):,} held-out rows of {config.seq_len} tokens")
    result = pretrain(
        model, tokenizer, train, held, out_dir, config, on_step=on_step, resume=resume, init=report
    )
    write_model_card(out_dir, result, config, [str(p) for p in corpus])
    return result
