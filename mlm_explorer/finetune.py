"""Quick masked-LM fine-tuning on a small text, with progress callbacks and a Stop.

One run: copy the model (the shared, cached one is never touched), split the
text into training and held-out parts, measure the held-out masked-token
loss / accuracy / perplexity and the probe sentences' top-k, train, and
measure again. The training itself (target-only loss, AdamW, warm-up/decay,
the loop, ``accelerate``) is :mod:`mlm_explorer.training`, shared with
pretraining; what is here is what fine-tuning alone has:

- the settings and their checks (:func:`validate_config`, the one place the
  UI and the CLI check them), and the default learning-rate rule;
- windows of a small text (dynamic padding: a batch is padded to its own
  longest window only), a seeded held-out split, probe sentences;
- a plain ``on_step(step, loss, info)`` callback; returning ``False`` from it,
  or setting a :class:`threading.Event` passed as ``stop``, ends the run after
  the current step. No UI types here;
- "watch a model learn": ``from_scratch=True`` starts from a randomly
  initialised small encoder of the same family, with the same tokenizer.

:func:`save_finetuned` writes a standard ``save_pretrained`` folder with a
model card (``MODEL_CARD.md`` and the hub's ``README.md``) and a zip of it.

Example::

    >>> lm = load_model()                                           # doctest: +SKIP
    >>> data = read_file("assets/data/recipes.txt")                 # doctest: +SKIP
    >>> res = finetune(lm, data, FinetuneConfig(steps=100),
    ...                probes=["Whisk the [MASK] with the sugar."])  # doctest: +SKIP
    >>> res.before.accuracy, res.after.accuracy                     # doctest: +SKIP
    (0.41, 0.55)
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from mlm_explorer.data import (
    DataError,
    Split,
    TextData,
    Windows,
    replace_problem,
    split_heldout,
    tokenize_windows,
)
from mlm_explorer.masking import MAX_SEED, PolicyConfig, validate_policy
from mlm_explorer.training import (
    MaskingCollator,
    Metrics,
    TrainConfig,
    check_precision,
    cpu_has_bf16,
    evaluate,
    fresh_model,
    resolve_precision,
    save_model,
    train,
)

#: Hard caps whatever the caller asks: a shared CPU Space must not be held for long.
MAX_STEPS = 3000
#: What save_finetuned always writes: its mark that a folder may be replaced by the next run.
SUMMARY_FILE = "finetune.json"
MAX_BATCH_SIZE = 128
MAX_SECONDS = 30 * 60.0

#: Default learning rates: continuing a pretrained encoder wants a small step
#: (BERT fine-tuning uses 2e-5..1e-4); a random one learns faster with a larger one
#: (small BERTs are pretrained at 5e-4..1e-3, Turc et al. 2019).
LR_CONTINUE = 1e-4
LR_SCRATCH = 5e-4


def default_lr(from_scratch: bool) -> float:
    """The learning rate used when none is given (the one rule the UI and the CLI show)."""
    return LR_SCRATCH if from_scratch else LR_CONTINUE


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings of one fine-tuning run; defaults take about a minute for the bundled model on 2 cores."""

    steps: int = 150  # optimizer steps; 0.2-0.4 s each for a 22M-parameter encoder at batch 16 on 2 cores.
    lr: float | None = None  # peak learning rate; None: LR_CONTINUE, or LR_SCRATCH from scratch.
    warmup: float = 0.1  # share of the steps spent warming up linearly (BERT used 1%..10%).
    batch_size: int = 16  # windows per step; small data wants small batches to see many updates.
    rate: float = 0.15  # P(token is a target), BERT's 15%; the 80/10/10 split is BERT's.
    seed: int = 0  # held-out split, shuffling, masking and a fresh model's weights derive from it.
    max_seconds: float | None = None  # a time budget; the run stops after the step that crosses it.
    max_length: int = 128  # longest window in tokens (capped by the model); longer lines are split.
    heldout_fraction: float = 0.1  # share held out for before/after metrics (at most 200 examples).
    weight_decay: float = 0.01  # on weight matrices only, not biases or LayerNorm (BERT).
    clip: float = 1.0  # gradient-norm clipping (BERT), keeps a fresh model's first steps sane.
    from_scratch: bool = False  # "watch a model learn": random small encoder, same tokenizer.
    probe_every: int = 10  # steps between probe refreshes sent to on_step (0: never).
    top_k: int = 5  # predictions shown per probe mask.
    eval_seed: int = 1234  # fixed masking of the held-out part, so before and after are comparable.
    eval_batch_size: int = 32  # held-out windows per forward pass.
    policy: PolicyConfig | None = None  # full policy; None: BERT's 80/10/10 at `rate`.
    precision: str = "auto"  # bf16 autocast where the chip has it (training.resolve_precision).

    @property
    def learning_rate(self) -> float:
        """The peak learning rate actually used."""
        if self.lr is not None:
            return float(self.lr)
        return default_lr(self.from_scratch)

    @property
    def masking(self) -> PolicyConfig:
        """The corruption policy used for training and evaluation."""
        return self.policy if self.policy is not None else PolicyConfig(rate=self.rate)


@dataclass(frozen=True)
class Limits:
    """Upper bounds of the settings; the app passes tighter ones than the library's own."""

    steps: int = MAX_STEPS
    seconds: float = MAX_SECONDS
    batch_size: int = MAX_BATCH_SIZE


def validate_config(config: FinetuneConfig, limits: Limits = Limits()) -> FinetuneConfig:
    """The settings with whole numbers as ``int``; ``ValueError`` with a sentence if one makes no sense.

    The one check of fine-tune settings: the library, the CLI and the app all call it.
    """

    def number(name: str, value, lo: float, hi: float, integer: bool = False) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or (integer and int(value) != value):
            kind = "a whole number" if integer else "a number"
            raise ValueError(f"{name} must be {kind}, got {value!r}.")
        if not lo <= value <= hi:
            # whole-number settings in whole numbers: "0 and 4294967295", not "0 and 4.29497e+09"
            shown = (lambda v: f"{int(v)}") if integer else (lambda v: f"{v:g}")
            raise ValueError(f"{name} must be between {shown(lo)} and {shown(hi)}, got {shown(value)}.")

    number("steps", config.steps, 1, limits.steps, integer=True)
    number("batch size", config.batch_size, 1, limits.batch_size, integer=True)
    # config.lr as given (learning_rate would call float() on it first and say Python's words)
    number("learning rate", config.lr if config.lr is not None else config.learning_rate, 1e-7, 1e-1)
    number("warm-up", config.warmup, 0.0, 0.9)
    number("masking rate", config.rate, 0.01, 1.0)
    number("seed", config.seed, 0, MAX_SEED, integer=True)
    number("max length", config.max_length, 8, 4096, integer=True)
    number("held-out fraction", config.heldout_fraction, 0.0, 0.5)
    number("weight decay", config.weight_decay, 0.0, 1.0)
    number("top-k", config.top_k, 1, 50, integer=True)
    number("probe interval", config.probe_every, 0, MAX_STEPS, integer=True)
    if config.max_seconds is not None:
        number("time budget (seconds)", config.max_seconds, 1.0, limits.seconds)
    validate_policy(config.masking)
    check_precision(config.precision)
    whole = ("steps", "batch_size", "seed", "max_length", "top_k", "probe_every")
    return dataclasses.replace(config, **{name: int(getattr(config, name)) for name in whole})


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class MaskGuess:
    """Top-k predictions at one masked position of a probe sentence."""

    position: int  # token index in the probe's encoding
    tokens: tuple[str, ...]
    probs: tuple[float, ...]


@dataclass(frozen=True)
class Probe:
    """A probe sentence and the model's guesses at each of its masks."""

    text: str
    guesses: tuple[MaskGuess, ...]

    @property
    def top1(self) -> str:
        """The best guess at each mask, joined: a one-glance summary."""
        return " | ".join(g.tokens[0] if g.tokens else "" for g in self.guesses)


@dataclass(frozen=True)
class StepInfo:
    """What ``on_step`` gets besides the step and the loss."""

    total_steps: int
    lr: float
    elapsed: float  # seconds since training started
    tokens_per_second: float  # non-padding tokens processed per second so far
    probes: tuple[Probe, ...] | None  # fresh probe predictions every `probe_every` steps, else None
    before: Metrics  # held-out metrics of the starting model, for side-by-side displays
    probes_before: tuple[Probe, ...]  # the starting model's probe predictions


@dataclass(frozen=True)
class PreparedData:
    """Tokenized training and held-out windows for one run."""

    split: Split
    train: Windows
    heldout: Windows
    heldout_is_train: bool  # too little text to hold any out: metrics use the training text

    @property
    def notes(self) -> tuple[str, ...]:
        out = []
        if self.heldout_is_train:
            out.append("Too little text to hold some out: before/after metrics use the training text.")
        split = self.train.n_split + (0 if self.heldout_is_train else self.heldout.n_split)
        if split:
            out.append(
                f"{split} example(s) longer than {self.train.max_length} tokens were split into windows."
            )
        return tuple(out)


@dataclass(frozen=True, eq=False)
class FinetuneResult:
    """What a run produced. ``model`` is new; the starting model is untouched."""

    model: nn.Module  # the fine-tuned masked LM, .eval()
    tokenizer: object
    base_name: str  # the model it started from ("<name> (fresh random init)" from scratch)
    config: FinetuneConfig
    data_source: str
    n_train: int  # training examples (before windowing)
    n_heldout: int
    n_windows: int  # training windows
    losses: tuple[float, ...]  # training loss per step
    steps: int  # steps done (fewer than asked when stopped)
    stopped: str  # "completed", "time budget" or "stopped"
    seconds: float
    tokens_per_second: float
    before: Metrics
    after: Metrics
    probes_before: tuple[Probe, ...]
    probes_after: tuple[Probe, ...]
    notes: tuple[str, ...] = ()
    precision: str = "no"  # what config.precision meant on this machine: "bf16" or "no"

    def summary(self) -> dict:
        """A JSON-able summary (the CLI prints it; the model card is built from it)."""
        cfg = asdict(self.config)
        cfg["lr"] = self.config.learning_rate
        cfg["policy"] = asdict(self.config.masking)
        return {
            "model": display_name(self.base_name),  # the model it started from
            "data": self.data_source,
            "train_examples": self.n_train,
            "heldout_examples": self.n_heldout,
            "train_windows": self.n_windows,
            "steps": self.steps,
            "stopped": self.stopped,
            "seconds": round(self.seconds, 2),
            "tokens_per_second": round(self.tokens_per_second, 1),
            "precision": self.precision,
            "first_loss": self.losses[0] if self.losses else None,
            "last_loss": self.losses[-1] if self.losses else None,
            "before": _metrics_dict(self.before),
            "after": _metrics_dict(self.after),
            "probes": [
                {"text": b.text, "before": b.top1, "after": a.top1}
                for b, a in zip(self.probes_before, self.probes_after, strict=True)
            ],
            "settings": cfg,
            "notes": list(self.notes),
        }


def display_name(name: str) -> str:
    """A model name fit for a card: an absolute folder path shrinks to its last part.

    Cards and summaries travel (zips, the hub); the server's folder layout should not.
    """
    path = Path(name)
    return path.name if path.is_absolute() else name


def _metrics_dict(m: Metrics) -> dict:
    out = m.to_dict()
    del out["step"]  # before is step 0 and after is the last step, both said elsewhere
    return out


# ------------------------------------------------------------------ data


def prepare_data(examples: Sequence[str], tokenizer, max_length: int, config: FinetuneConfig) -> PreparedData:
    """Split (seeded) and window the examples; raise :class:`DataError` if nothing is left."""
    if not examples:
        raise DataError("There is no text to train on.")
    split = split_heldout(examples, fraction=config.heldout_fraction, seed=config.seed)
    train = tokenize_windows(split.train, tokenizer, max_length)
    if not train.input_ids:
        raise DataError("The text has no tokens this model can read.")
    heldout_is_train = not split.heldout
    heldout = train if heldout_is_train else tokenize_windows(split.heldout, tokenizer, max_length)
    return PreparedData(split, train, heldout, heldout_is_train)


def window_collator(windows: Windows, tokenizer, candidates: torch.Tensor, policy: PolicyConfig,
                    seed: int) -> MaskingCollator:
    """Batches of ``windows`` masked by ``policy``, the masks drawn from a generator seeded with ``seed``."""
    return MaskingCollator(windows.input_ids, windows.special_mask, tokenizer.pad_token_id,
                           tokenizer.mask_token_id, candidates, policy, torch.Generator().manual_seed(seed))


def heldout_metrics(model: nn.Module, windows: Windows, tokenizer, candidates: torch.Tensor,
                    config: FinetuneConfig, step: int = 0) -> Metrics:
    """Held-out metrics, masks fixed by ``config.eval_seed``: before and after compare like with like."""
    collate = window_collator(windows, tokenizer, candidates, config.masking, config.eval_seed)
    return evaluate(model, collate.fixed_batches(config.eval_batch_size), step)


@torch.inference_mode()
def probe(model: nn.Module, tokenizer, texts: Sequence[str], top_k: int = 5,
          max_length: int = 512) -> tuple[Probe, ...]:
    """Top-k guesses at every mask of each probe sentence.

    Users may type ``[MASK]`` or ``<mask>``; both become the model's own mask
    token (``tokens.normalise_masks``). A probe without a mask raises ``ValueError``.
    """
    from mlm_explorer.tokens import normalise_masks

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for text in texts:
        norm = normalise_masks(text, tokenizer.mask_token)
        enc = tokenizer(norm, truncation=True, max_length=max_length, return_tensors="pt")
        ids = enc["input_ids"].to(device)  # (1, T)
        positions = (ids[0] == tokenizer.mask_token_id).nonzero().flatten().tolist()
        if not positions:
            model.train(was_training)
            raise ValueError(f"Probe sentence {text[:80]!r} has no [MASK] to fill in.")
        logits = model(input_ids=ids, attention_mask=enc["attention_mask"].to(device)).logits[0]  # (T, V)
        probs = logits[positions].float().softmax(-1)  # (masks, V)
        top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
        guesses = tuple(
            MaskGuess(
                position=p,
                tokens=tuple(tokenizer.convert_ids_to_tokens(top.indices[j].tolist())),
                probs=tuple(round(float(x), 6) for x in top.values[j]),
            )
            for j, p in enumerate(positions)
        )
        out.append(Probe(text=text, guesses=guesses))
    model.train(was_training)
    return tuple(out)


def check_probes(texts: Sequence[str], mask_token: str) -> tuple[str, ...]:
    """Keep non-blank probe lines; each must contain a mask (``[MASK]`` or ``<mask>``)."""
    from mlm_explorer.tokens import normalise_masks

    kept = tuple(t.strip() for t in texts if t and t.strip())
    for t in kept:
        if mask_token not in normalise_masks(t, mask_token):
            raise ValueError(f"Probe sentence {t[:80]!r} has no [MASK] to fill in.")
    return kept


# ------------------------------------------------------------------ training


OnStep = Callable[[int, float, StepInfo], "bool | None"]


def _max_length_of(lm, config: FinetuneConfig) -> int:
    limit = getattr(lm, "max_length", None) or 512
    return int(min(limit, config.max_length))


def finetune(
    lm,
    data: TextData | Sequence[str],
    config: FinetuneConfig = FinetuneConfig(),
    probes: Sequence[str] = (),
    on_step: OnStep | None = None,
    stop: threading.Event | None = None,
) -> FinetuneResult:
    """Fine-tune a copy of ``lm`` (a :class:`~mlm_explorer.models.LoadedModel`) on ``data``.

    ``on_step(step, loss, info)`` is called after every optimizer step (on the
    main process); returning ``False`` stops the run, as does setting ``stop``.
    Raises ``ValueError`` (:class:`DataError` for data) on bad settings or input,
    before any training starts.
    """
    from accelerate import Accelerator

    config = validate_config(config)
    examples = data.examples if isinstance(data, TextData) else tuple(data)
    source = data.source if isinstance(data, TextData) else f"{len(examples)} examples"
    tokenizer = lm.tokenizer
    probe_texts = check_probes(probes, tokenizer.mask_token)
    max_length = _max_length_of(lm, config)
    prepared = prepare_data(examples, tokenizer, max_length, config)
    candidates = lm.candidate_ids

    # cpu=True keeps a CPU-loaded model on the CPU even on a GPU machine; under
    # `accelerate launch` the launcher's settings decide.
    accelerator = Accelerator(cpu=lm.device.type == "cpu" and torch.cuda.is_available())
    base_name = str(lm.name)
    if config.from_scratch:
        model = fresh_model(lm.model, config.seed)
        base_name += " (fresh random init)"
    else:
        model = copy.deepcopy(lm.model)  # the cached model is shared: never train it in place
    model.to(accelerator.device)
    precision = resolve_precision(config.precision, accelerator.device.type == "cuda", cpu_has_bf16())

    # ---- before
    before = heldout_metrics(model, prepared.heldout, tokenizer, candidates, config)
    probes_before = probe(model, tokenizer, probe_texts, config.top_k, max_length) if probe_texts else ()

    # ---- train; every process draws different masks, the same shuffles (the sampler syncs them)
    collate = window_collator(prepared.train, tokenizer, candidates, config.masking,
                              config.seed * 7919 + accelerator.process_index)
    loader = torch.utils.data.DataLoader(
        list(range(len(collate))), batch_size=config.batch_size, shuffle=True, collate_fn=collate,
        generator=torch.Generator().manual_seed(config.seed),
    )

    def report(step) -> bool | None:
        if not accelerator.is_main_process or on_step is None:
            return None
        fresh = None
        if probe_texts and config.probe_every and (step.step % config.probe_every == 0 or step.step == 1):
            fresh = probe(model, tokenizer, probe_texts, config.top_k, max_length)
        info = StepInfo(config.steps, step.lr, step.elapsed, step.tokens_per_second, fresh, before,
                        probes_before)
        return on_step(step.step, step.loss, info)

    schedule = TrainConfig(lr=config.learning_rate, warmup=config.warmup, weight_decay=config.weight_decay,
                           clip=config.clip, max_steps=config.steps, max_seconds=config.max_seconds,
                           seed=config.seed, bf16=precision == "bf16")
    done = train(model, loader, schedule, accelerator, report, stop.is_set if stop is not None else None)

    # ---- after
    after = heldout_metrics(model, prepared.heldout, tokenizer, candidates, config, done.steps)
    probes_after = probe(model, tokenizer, probe_texts, config.top_k, max_length) if probe_texts else ()
    notes = tuple(data.notes if isinstance(data, TextData) else ()) + prepared.notes
    return FinetuneResult(
        model=model, tokenizer=tokenizer, base_name=base_name, config=config, data_source=source,
        n_train=len(prepared.split.train), n_heldout=len(prepared.split.heldout),
        n_windows=len(prepared.train.input_ids), losses=done.losses, steps=done.steps, stopped=done.stopped,
        seconds=done.seconds, tokens_per_second=done.tokens / max(done.seconds, 1e-9), before=before,
        after=after, probes_before=probes_before, probes_after=probes_after, notes=notes,
        precision=precision,
    )


# ------------------------------------------------------------------ saving


@dataclass(frozen=True)
class SavedModel:
    """Where :func:`save_finetuned` wrote things."""

    folder: Path  # save_pretrained folder: config, safetensors, tokenizer, MODEL_CARD.md, README.md
    zip_path: Path | None  # the folder zipped, for download
    files: tuple[str, ...] = field(default=())


def model_card(result: FinetuneResult) -> str:
    """A Markdown model card: base model, data, settings, metrics, probes."""
    s = result.summary()
    b, a = s["before"], s["after"]
    held = f"{result.n_heldout} held-out examples"
    if result.n_heldout == 0:
        held = "the training text (too little to hold some out)"
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: fill-mask",
        "tags:\n  - masked-language-modeling\n  - mlm-explorer",
        "---",
        "",
        "# Fine-tuned masked language model",
        "",
        f"Fine-tuned with MLM Explorer from **{_md(s['model'])}** on **{_md(result.data_source)}** "
        f"({result.n_train} training examples, {result.n_windows} windows).",
        "",
        "## Settings",
        "",
        f"- steps: {result.steps} of {result.config.steps} ({result.stopped}), {result.seconds:.1f} s",
        f"- learning rate: {result.config.learning_rate:g}, warm-up {result.config.warmup:g}, "
        f"linear decay, AdamW (weight decay {result.config.weight_decay:g})",
        f"- batch size: {result.config.batch_size}, max length {result.config.max_length}",
        f"- masking: rate {result.config.masking.rate:g}, 80/10/10 "
        f"(mask {result.config.masking.mask_share:g} / random {result.config.masking.random_share:g})",
        f"- seed: {result.config.seed}; from scratch: {result.config.from_scratch}",
        "",
        f"## Metrics (on {held}, masking seed {result.config.eval_seed})",
        "",
        "| | before | after |",
        "|---|---|---|",
        f"| masked-token accuracy | {b['accuracy']:.3f} | {a['accuracy']:.3f} |",
        f"| loss | {b['loss']:.3f} | {a['loss']:.3f} |",
        f"| perplexity | {b['perplexity']:.1f} | {a['perplexity']:.1f} |",
        "",
    ]
    if s["probes"]:
        lines += ["## Probe sentences (top guess)", "", "| sentence | before | after |", "|---|---|---|"]
        lines += [f"| {_md(p['text'])} | {_md(p['before'])} | {_md(p['after'])} |" for p in s["probes"]]
        lines.append("")
    lines += ["## Settings as JSON", "", "```json", json.dumps(s["settings"], indent=2), "```", ""]
    return "\n".join(lines)


def _md(text: str) -> str:
    """Neutralise Markdown table and HTML characters in user text."""
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def save_finetuned(result: FinetuneResult, out_dir: str | Path, make_zip: bool = True) -> SavedModel:
    """Write ``result`` as a ``save_pretrained`` folder with a model card, and zip it.

    Safetensors weights, the tokenizer, ``MODEL_CARD.md`` (this project's
    convention), the same card as ``README.md`` (the hub's), and
    ``finetune.json`` with the summary. An existing folder is replaced.
    """
    out = Path(out_dir)
    problem = replace_problem(out, SUMMARY_FILE)
    if problem:
        raise ValueError(problem)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    save_model(result.model, result.tokenizer, out)
    card = model_card(result)
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    (out / "README.md").write_text(card, encoding="utf-8")
    (out / SUMMARY_FILE).write_text(json.dumps(result.summary(), indent=2), encoding="utf-8")
    zip_path = None
    if make_zip:
        zip_path = Path(shutil.make_archive(str(out), "zip", root_dir=out.parent, base_dir=out.name))
    return SavedModel(folder=out, zip_path=zip_path, files=tuple(sorted(p.name for p in out.iterdir())))
