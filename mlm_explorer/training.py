"""The one masked-LM training loop that fine-tuning and pretraining share.

What is here, and nowhere else:

- :class:`MaskingCollator`: rows of token ids → a padded batch with the
  80/10/10 plan of :func:`mlm_explorer.masking.corrupt_batch` drawn from an
  explicit generator (what the policy tab shows is what training does);
- :class:`TargetOnlyMLM`: the loss at the target positions only, with the MLM
  head applied only there (the head split of :func:`mlm_explorer.predict.head_module`);
- :func:`decay_groups` and :func:`adamw`: BERT's AdamW groups, fused where PyTorch has the kernel;
- :func:`lr_factor` / :func:`warmup_decay`: linear warm-up then linear decay to
  zero over a step *or* time budget, as a scheduler that ``accelerate`` prepares;
- :func:`evaluate` and :class:`Metrics`: held-out loss / accuracy / perplexity;
- :func:`train`: the loop, ``train(model, batches, config, accelerator, on_step, should_stop)``;
- :class:`ScratchSize`, :func:`fresh_model`, :func:`save_model`: small random encoders and saving.

What is not here: where the text comes from and how it is cut into rows
(``finetune.py``: windows of a small text, probes, before/after, cards;
``pretrain.py``: packing, tokenizer training, warm start, checkpoints, resume).

Randomness is explicit: masks come from the collator's generator, shuffles
from the data loader's, dropout from :class:`TrainConfig`'s ``seed`` inside a
forked RNG, so the caller's global random state is left as it was.

Example::

    >>> from accelerate import Accelerator                                # doctest: +SKIP
    >>> done = train(model, loader, TrainConfig(lr=1e-4, max_steps=100),
    ...              Accelerator(), on_step=lambda s: print(s.step, s.loss))  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mlm_explorer.masking import IGNORE_INDEX, PolicyConfig, corrupt_batch

# ------------------------------------------------------------------ batches


class MaskingCollator:
    """Row indices → ``{"input_ids", "attention_mask", "labels"}`` with a fresh 80/10/10 draw.

    ``ids`` is either a ``(N, T)`` tensor of packed rows (pretraining) or a
    list of variable-length rows (fine-tuning windows); a batch of the latter
    is padded to its own longest row only (dynamic padding). Padding counts
    as special, so it is never a target. ``id_weights`` (one per vocabulary id, see
    :func:`mlm_explorer.masking.frequency_weights`) makes selection favour rarer tokens.
    Runs on the CPU in the data loader (masking draws from a CPU generator); a
    prepared loader then moves the batch to the device.
    """

    def __init__(self, ids: torch.Tensor | Sequence[Sequence[int]], special, pad_id: int, mask_id: int,
                 candidates: torch.Tensor, policy: PolicyConfig, generator: torch.Generator,
                 word_ids: torch.Tensor | None = None, id_weights: torch.Tensor | None = None):
        self.ids, self.special, self.word_ids, self.id_weights = ids, special, word_ids, id_weights
        self.pad_id, self.mask_id, self.candidates = pad_id, mask_id, candidates
        self.policy, self.generator = policy, generator

    def __len__(self) -> int:
        return len(self.ids)

    def __call__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        if isinstance(self.ids, torch.Tensor):
            rows = torch.as_tensor(list(indices), dtype=torch.long)
            ids, special = self.ids[rows], self.special[rows]  # (B, T)
            words = None if self.word_ids is None else self.word_ids[rows]
            attention = (ids != self.pad_id).long()
        else:
            lengths = [len(self.ids[i]) for i in indices]
            ids = torch.full((len(indices), max(lengths)), self.pad_id, dtype=torch.long)  # (B, T)
            special = torch.ones_like(ids, dtype=torch.bool)
            attention = torch.zeros_like(ids)
            for b, (i, n) in enumerate(zip(indices, lengths, strict=True)):
                ids[b, :n] = torch.tensor(self.ids[i])
                special[b, :n] = torch.tensor(self.special[i])
                attention[b, :n] = 1
            words = None
        weights = None if self.id_weights is None else self.id_weights[ids]
        out = corrupt_batch(ids, special, self.mask_id, self.candidates, self.policy, self.generator, words,
                            weights)
        return {"input_ids": out.corrupted_ids, "attention_mask": attention, "labels": out.labels}

    def fixed_batches(self, batch_size: int) -> Iterable[dict[str, torch.Tensor]]:
        """Every row once, in order (evaluation: build the collator with a fixed seed)."""
        n = len(self)
        for start in range(0, n, batch_size):
            yield self(range(start, min(start + batch_size, n)))


# ------------------------------------------------------------------ loss


class TargetOnlyMLM(nn.Module):
    """Wraps a masked LM so that forward returns (summed loss, correct, targets) at targets only.

    Applying the head to the ~15% target rows instead of every position skips
    most of the (positions × vocabulary) matmul, the largest single cost for a
    small encoder with a 30k vocabulary. The head is found as in
    :func:`mlm_explorer.predict.head_module`; a family without one separable
    head gets the full forward (same loss), and the encoder never runs twice.
    Being a module, it is what ``Accelerator.prepare`` wraps (DDP included).
    """

    def __init__(self, model: nn.Module):
        from mlm_explorer.predict import head_module

        super().__init__()
        self.model = model
        self._head = head_module(model)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor):
        selected = labels != IGNORE_INDEX  # (B, T)
        if self._head is None:
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits[selected]
        else:
            hidden = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask)[0]  # (B, T, H)
            logits = self._head(hidden[selected])  # (targets, V)
        target = labels[selected]
        # Summed, not averaged: an empty batch gives 0 instead of NaN, and
        # evaluation adds batches exactly.
        loss_sum = nn.functional.cross_entropy(logits.float(), target, reduction="sum")
        correct = (logits.argmax(-1) == target).sum()
        return loss_sum, correct, target.numel()


# ------------------------------------------------------------------ optimizer and schedule


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay weight matrices only, not biases or LayerNorm (BERT's recipe)."""
    decay, no_decay, seen = [], [], set()
    for name, param in model.named_parameters():
        if not param.requires_grad or id(param) in seen:
            continue
        seen.add(id(param))  # tied input/output embeddings appear twice
        (decay if param.ndim >= 2 and "norm" not in name.lower() else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def adamw(groups: list[dict], lr: float, betas: tuple[float, float] = (0.9, 0.999),
          eps: float = 1e-8) -> torch.optim.Optimizer:
    """AdamW, fused where PyTorch has the kernel (CPU and CUDA since 2.4; ``Trainer``'s default too).

    The per-tensor loop of the plain implementation costs about as much as the
    backward pass of a small encoder on a CPU.
    """
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=True)
    except (RuntimeError, TypeError, ValueError):  # an older build or an unsupported device
        return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up over ``warmup`` of the budget, then linear decay to zero.

    The shape of transformers' ``get_linear_schedule_with_warmup`` (BERT), over
    a share of the budget instead of steps, so a time budget works too.

    >>> [round(lr_factor(p, 0.1), 6) for p in (0.0, 0.05, 0.1, 0.55, 1.0)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return progress / warmup
    return max(0.0, (1.0 - progress) / max(1e-9, 1.0 - warmup))


def warmup_decay(optimizer: torch.optim.Optimizer, warmup: float,
                 progress: Callable[[], float]) -> torch.optim.lr_scheduler.LambdaLR:
    """A scheduler whose factor is :func:`lr_factor` of ``progress()`` (0..1 of the budget).

    It reads the progress rather than counting its own calls, so the
    ``accelerate``-prepared scheduler (which steps once per process) and a
    resumed run both get the right rate.
    """
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: lr_factor(progress(), warmup))


# ------------------------------------------------------------------ evaluation


@dataclass(frozen=True)
class Metrics:
    """Masked-token metrics over a fixed masking of some rows."""

    loss: float  # mean cross-entropy over the targets (nats)
    accuracy: float  # share of targets whose top-1 prediction is the original token
    targets: int  # how many positions were scored
    step: int = 0  # the training step they were measured at

    @property
    def perplexity(self) -> float:
        """exp(loss), capped so a random model does not overflow."""
        return math.exp(min(self.loss, 50.0))

    def to_dict(self) -> dict:
        return {"loss": round(self.loss, 4), "accuracy": round(self.accuracy, 4),
                "perplexity": round(self.perplexity, 2), "targets": self.targets, "step": self.step}


@torch.inference_mode()
def evaluate(model: nn.Module, batches: Iterable[dict[str, torch.Tensor]], step: int = 0) -> Metrics:
    """Masked-token loss and accuracy over ``batches`` (e.g. :meth:`MaskingCollator.fixed_batches`).

    Build the batches with a fixed seed: the same targets for the same rows,
    so metrics before and after training compare like with like.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    scorer = TargetOnlyMLM(model)
    total, correct, count = 0.0, 0, 0
    for batch in batches:
        loss_sum, ok, n = scorer(**{k: v.to(device) for k, v in batch.items()})
        total, correct, count = total + float(loss_sum), correct + int(ok), count + n
    model.train(was_training)
    return Metrics(loss=total / max(count, 1), accuracy=correct / max(count, 1), targets=count, step=step)


# ------------------------------------------------------------------ the loop


PRECISIONS = ("auto", "bf16", "no")


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX), so autocast pays off.

    Without those instructions oneDNN emulates bf16 and a step gets slower, not faster.
    ``torch.cpu._is_avx512_bf16_supported`` asks the CPU (AMX implies AVX512-BF16); it is
    private, so a torch without it counts as "no".
    """
    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def check_precision(setting: str) -> None:
    """``ValueError`` with a sentence unless ``setting`` is one of :data:`PRECISIONS`."""
    if setting not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {setting!r}.")


def resolve_precision(setting: str, cuda: bool, cpu_bf16: bool) -> str:
    """The precision, "bf16" or "no", that a setting of :data:`PRECISIONS` means here.

    "auto" is bf16 on a GPU and on a CPU with native bf16: there a training step of the
    bundled encoder (batch 64 x 64) takes 1.4 s instead of 3.7 s on one core, and autocast
    keeps the weights and the optimizer in fp32 (mixed precision, Micikevicius et al. 2018),
    so only the matmuls round. Elsewhere it is full precision.
    """
    check_precision(setting)
    if setting == "auto":
        return "bf16" if cuda or cpu_bf16 else "no"
    return setting


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer, schedule and budget of one run (the callers fill it from their own configs)."""

    lr: float  # peak learning rate
    warmup: float = 0.1  # share of the budget spent warming up linearly (BERT 1%..10%, RoBERTa 6%)
    weight_decay: float = 0.01  # on weight matrices only (BERT)
    clip: float = 1.0  # gradient-norm clipping (BERT); 0 turns it off
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW's; RoBERTa uses (0.9, 0.98)
    eps: float = 1e-8  # AdamW's; RoBERTa uses 1e-6
    max_steps: int | None = None  # a step budget; the schedule spans it
    max_seconds: float | None = None  # a time budget: the schedule spans it when there is no step budget
    seed: int = 0  # dropout's random stream (in a forked RNG: the global one is left alone)
    bf16: bool = False  # autocast the forward to bf16; weights, gradients and AdamW stay fp32

    def __post_init__(self) -> None:
        if self.max_steps is None and self.max_seconds is None:
            raise ValueError("Give a budget: a number of steps or a time in seconds.")


@dataclass(frozen=True, eq=False)
class Step:
    """What ``on_step`` receives after every optimizer step."""

    step: int
    loss: float  # mean loss at this step's targets (this process)
    lr: float
    elapsed: float  # seconds of training, a resumed run's earlier time included
    tokens_per_second: float  # non-padding tokens per second of this call, this process
    progress: float  # 0..1 of the budget
    optimizer: torch.optim.Optimizer  # the prepared optimizer, for checkpoints


@dataclass(frozen=True)
class Resume:
    """Where an interrupted run stood (pretraining's checkpoints)."""

    step: int
    elapsed: float
    tokens: int  # all processes
    optimizer_state: dict | None = None


@dataclass(frozen=True)
class Trained:
    """How :func:`train` ended."""

    steps: int
    seconds: float  # training time, a resumed run's earlier time included
    tokens: int  # non-padding tokens, all processes
    losses: tuple[float, ...]  # per step of this call
    stopped: str  # "completed", "time budget" or "stopped"


OnStep = Callable[[Step], "bool | None"]


def train(
    model: nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    config: TrainConfig,
    accelerator,
    on_step: OnStep | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: Resume | None = None,
) -> Trained:
    """Train ``model`` in place on ``batches`` (re-iterated until the budget is spent).

    ``batches`` is usually a ``DataLoader`` whose collator is a
    :class:`MaskingCollator`; it is prepared by ``accelerator`` (sharded over
    processes under ``accelerate launch``), together with the wrapped model,
    the optimizer and the schedule. ``on_step`` runs on every process after
    every step (report from the main one); returning ``False`` from it, or
    ``should_stop()`` turning true, ends the run after that step, on every
    process at the same step.
    """
    from torch.utils.data import DataLoader

    wrapped = TargetOnlyMLM(model)
    wrapped.train()
    optimizer = adamw(decay_groups(model, config.weight_decay), config.lr, config.betas, config.eps)
    step = resume.step if resume else 0
    tokens = 0  # this call, this process
    earlier = resume.elapsed if resume else 0.0
    started = time.perf_counter()

    def progress() -> float:
        if config.max_steps is not None:
            return step / config.max_steps
        return (earlier + time.perf_counter() - started) / config.max_seconds

    scheduler = warmup_decay(optimizer, config.warmup, progress)
    if isinstance(batches, DataLoader):
        wrapped, optimizer, batches, scheduler = accelerator.prepare(wrapped, optimizer, batches, scheduler)
    else:
        wrapped, optimizer, scheduler = accelerator.prepare(wrapped, optimizer, scheduler)
    if resume and resume.optimizer_state:
        optimizer.load_state_dict(resume.optimizer_state)
    n_proc = accelerator.num_processes
    devices = [accelerator.device] if accelerator.device.type == "cuda" else []
    losses: list[float] = []
    stopped = "completed"
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed * 1_000_003 + step * 64 + accelerator.process_index)
        started = time.perf_counter()
        while stopped == "completed" and progress() < 1.0:
            for batch in batches:
                # Our own autocast rather than Accelerator(mixed_precision=...): accelerate keeps one
                # precision per process and refuses a second, and the app's fine-tuning shares it.
                with torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=config.bf16):
                    loss_sum, _, n_targets = wrapped(**batch)
                loss = loss_sum / max(n_targets, 1)
                accelerator.backward(loss)
                if config.clip:
                    accelerator.clip_grad_norm_(wrapped.parameters(), config.clip)
                optimizer.step()
                # The step is counted before the schedule moves, so the next step's rate is that of
                # `step` steps done, as transformers' get_linear_schedule_with_warmup sets it: counted
                # after, the first two steps both ran at rate 0 (a two-step fine-tune changed nothing).
                step += 1
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                tokens += int(batch["attention_mask"].sum())
                losses.append(float(loss.detach()))
                seconds = time.perf_counter() - started
                elapsed = earlier + seconds
                lr = scheduler.get_last_lr()[0]
                info = Step(step, losses[-1], lr, elapsed, tokens / max(seconds, 1e-9), progress(), optimizer)
                want_stop = on_step is not None and on_step(info) is False
                want_stop = want_stop or (should_stop is not None and should_stop())
                over_time = config.max_seconds is not None and elapsed >= config.max_seconds
                if n_proc > 1:  # all processes must stop at the same step, or DDP waits forever
                    flags = torch.tensor([float(want_stop), float(over_time)], device=accelerator.device)
                    want_stop, over_time = (bool(x) for x in accelerator.reduce(flags, "max").tolist())
                if want_stop or over_time:
                    stopped = "stopped" if want_stop else "time budget"
                    break
                if progress() >= 1.0:
                    break
    optimizer.zero_grad(set_to_none=True)
    model.eval()
    accelerator.free_memory()  # drop the accelerator's references to optimizer and loader
    return Trained(steps=step, seconds=earlier + time.perf_counter() - started,
                   tokens=(resume.tokens if resume else 0) + tokens * n_proc, losses=tuple(losses),
                   stopped=stopped)


# ------------------------------------------------------------------ models


@dataclass(frozen=True)
class ScratchSize:
    """Size of a from-scratch encoder: a small BERT that trains on a CPU, many steps a minute."""

    vocab_size: int = 16000  # a new WordPiece vocabulary (pretraining from scratch)
    layers: int = 4
    hidden: int = 256
    heads: int = 4
    intermediate: int = 1024


#: The largest from-scratch encoder the command line builds: BERT-large's shape (24 x 1024, 16
#: heads) and a vocabulary past any WordPiece one; `--hidden 100000` died allocating 40 GB.
MAX_SCRATCH = ScratchSize(vocab_size=250_000, layers=24, hidden=1024, heads=16, intermediate=4096)
#: A WordPiece vocabulary needs its special tokens and an alphabet before it has any word.
MIN_SCRATCH_VOCAB = 100


def scratch_size_problem(size: ScratchSize) -> str:
    """Why ``size`` cannot be built ("" when it can): said before a tokenizer is trained or memory asked for.

    >>> scratch_size_problem(ScratchSize(hidden=250, heads=4))
    'the hidden size (250) must be a multiple of the heads (4)'
    """
    for name, low in (("vocab_size", MIN_SCRATCH_VOCAB), ("layers", 1), ("hidden", 1), ("heads", 1),
                      ("intermediate", 1)):
        value, high = getattr(size, name), getattr(MAX_SCRATCH, name)
        if not low <= value <= high:
            return f"{name.replace('_', ' ')} must be from {low} to {high:,}, got {value:,}"
    if size.hidden % size.heads:
        return f"the hidden size ({size.hidden}) must be a multiple of the heads ({size.heads})"
    return ""


def fresh_model(like: nn.Module, seed: int, size: ScratchSize = ScratchSize()) -> nn.Module:
    """A randomly initialised masked LM of ``like``'s family and vocabulary, at most ``size``.

    Initialised under a forked RNG seeded with ``seed``, so the global random
    state is left alone.
    """
    from transformers import AutoModelForMaskedLM

    config = copy.deepcopy(like.config)
    caps = {"num_hidden_layers": size.layers, "hidden_size": size.hidden,
            "num_attention_heads": size.heads, "intermediate_size": size.intermediate}
    for name, cap in caps.items():
        if hasattr(config, name):
            setattr(config, name, min(int(getattr(config, name)), cap))
    if hasattr(config, "embedding_size"):  # ALBERT factorises the embeddings
        config.embedding_size = min(int(config.embedding_size), 128)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoModelForMaskedLM.from_config(config, attn_implementation="eager")


def save_model(model: nn.Module, tokenizer, out_dir: Path, fp16: bool = False,
               max_shard_size: str = "2GB") -> None:
    """A standard ``save_pretrained`` folder (safetensors) with its tokenizer, that Auto* classes load.

    ``fp16`` halves the folder; :mod:`mlm_explorer.models` loads it back as fp32 on a CPU.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    to_save = copy.deepcopy(model).half() if fp16 else model
    to_save.save_pretrained(out_dir, safe_serialization=True, max_shard_size=max_shard_size)
    tokenizer.save_pretrained(out_dir)
