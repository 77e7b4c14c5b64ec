"""Fine-tune tab: train a copy of the current model (or a fresh one) on a small text, live.

Wiring only; the work is :func:`mlm_explorer.finetune.finetune`. How a run is
driven:

- ``finetune_start`` is a *generator*: it checks the input, waits for a free
  trainer (the server runs at most ``MLM_EXPLORER_MAX_TRAININGS`` at once,
  first come first served, and shows the queue position), starts the
  training in a worker thread and, every half second, yields the loss curve,
  a progress bar and the probe sentences' current guesses. Gradio's
  ``cancels=`` cannot stop a running plain function, so the run itself is
  stopped through a ``threading.Event`` that the library checks every step.
- ``finetune_stop`` sets that event; the run ends after the current step and
  the tab shows what it had learned so far.
- The job (thread, event, live numbers) and the resulting model live in the
  browser session's state, so one visitor's training never shows up in, or
  changes, another's results. One training per session at a time.
- When the generator is cancelled (the page closed), its ``finally`` sets the
  event, so no orphaned training keeps a CPU busy.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import pandas as pd

from mlm_explorer import plots
from mlm_explorer.data import DataError, TextData, read_file, read_pasted
from mlm_explorer.finetune import (
    LR_CONTINUE,
    LR_SCRATCH,
    FinetuneConfig,
    FinetuneResult,
    Metrics,
    Probe,
    StepInfo,
    check_probes,
    finetune,
    save_finetuned,
    validate_config,
)
from mlm_explorer.models import LoadedModel, ModelLoadError
from mlm_explorer.ui.common import md_escape, session_model, user_error
from mlm_explorer.ui.state import Session

SAMPLES_DIR = Path(__file__).resolve().parent.parent.parent / "assets" / "data"
SOURCES = ("Bundled sample", "Upload a file", "Paste text")
STARTS = ("Current model", "Fresh random model (watch it learn)")
#: Probe sentences offered with each bundled sample.
SAMPLE_PROBES = {
    "recipes.txt": "Whisk the eggs with the [MASK] in a large bowl.\nBake the bread in a hot [MASK].",
    "science.txt": "The chemical symbol for gold is [MASK].\nMars is the fourth [MASK] from the Sun.",
    "nursery.txt": "The cow says [MASK].\nThe little duck sleeps in the [MASK].",
}
#: UI caps (the library has its own, larger ones): a shared CPU server stays responsive.
UI_MAX_STEPS = 1000
UI_MAX_SECONDS = 300
MAX_PROBES = 5
#: Environment variable: how many trainings the whole server runs at once (the rest queue).
MAX_TRAININGS_ENV = "MLM_EXPLORER_MAX_TRAININGS"
# One at a time by default: two trainings on two vCPUs each run at less than half
# speed (PyTorch's intra-op threads contend), so queueing is faster for everyone.
_DEFAULT_MAX_TRAININGS = 1
_POLL_S = 0.5  # how often the tab redraws while training
_JOB_KEY = "finetune_job"
_OUT_ROOT = Path(tempfile.gettempdir()) / "mlm-explorer-finetuned"
_OUT_MAX_AGE_S = 30 * 60  # zips are one-shot downloads; older ones are pruned (bounds the disk a Space uses)


# ------------------------------------------------------------------ server-wide admission


class TrainingSlots:
    """First-come-first-served admission of trainings across all sessions.

    A server resource (how many CPUs may train at once), not user data: it
    holds only opaque tickets, never a session's text or model.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[str] = []
        self._running: set[str] = set()

    @staticmethod
    def limit() -> int:
        try:
            return max(1, int(os.environ.get(MAX_TRAININGS_ENV, _DEFAULT_MAX_TRAININGS)))
        except ValueError:
            return _DEFAULT_MAX_TRAININGS

    def join(self, ticket: str) -> None:
        with self._lock:
            self._waiting.append(ticket)

    def try_start(self, ticket: str) -> int:
        """0 if ``ticket`` may start now (and is counted as running), else its queue position."""
        with self._lock:
            if ticket in self._running:
                return 0
            position = self._waiting.index(ticket) + 1
            if position == 1 and len(self._running) < self.limit():
                self._waiting.pop(0)
                self._running.add(ticket)
                return 0
            return position

    def leave(self, ticket: str) -> None:
        with self._lock:
            self._running.discard(ticket)
            if ticket in self._waiting:
                self._waiting.remove(ticket)

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)


SLOTS = TrainingSlots()


# ------------------------------------------------------------------ one session's job


@dataclass
class Job:
    """One training of one session: the thread, its Stop, and what it has reported so far."""

    ticket: str
    config: FinetuneConfig
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    info: StepInfo | None = None
    live_probes: tuple[Probe, ...] = ()
    result: FinetuneResult | None = None
    error: str | None = None

    def on_step(self, step: int, loss: float, info: StepInfo) -> None:
        """The library's callback (worker thread): record, never block."""
        with self.lock:
            self.steps.append(step)
            self.losses.append(loss)
            self.info = info
            if info.probes is not None:
                self.live_probes = info.probes

    def snapshot(self) -> tuple[list[int], list[float], StepInfo | None, tuple[Probe, ...]]:
        with self.lock:
            return list(self.steps), list(self.losses), self.info, self.live_probes

    @property
    def running(self) -> bool:
        return not self.done.is_set()


def _train(job: Job, lm: LoadedModel, data: TextData, probes: tuple[str, ...]) -> None:
    """Worker thread body: run the library, keep the result or a one-line error."""
    try:
        job.result = finetune(lm, data, job.config, probes=probes, on_step=job.on_step, stop=job.stop)
    except (ValueError, RuntimeError, MemoryError) as err:  # bad input, out of memory
        job.error = " ".join(str(err).split()) or type(err).__name__
    finally:
        SLOTS.leave(job.ticket)
        job.done.set()


# ------------------------------------------------------------------ inputs → library values


def sample_names() -> list[str]:
    """The bundled sample files, by name."""
    return sorted(p.name for p in SAMPLES_DIR.glob("*.txt"))


def read_input(
    source: str, sample: str | None, upload: str | None, pasted: str | None, text_column: str | None
) -> TextData:
    """The training text the user chose; :class:`DataError` with a sentence if unusable."""
    column = (text_column or "").strip() or None
    if source == SOURCES[1]:
        if not upload:
            raise DataError("Upload a .txt, .csv, .tsv or .jsonl file first (or pick another source).")
        return read_file(upload, text_column=column)
    if source == SOURCES[2]:
        return read_pasted(pasted or "")
    names = sample_names()
    if sample not in names:
        raise DataError(f"Pick one of the bundled samples: {', '.join(names)}.")
    return read_file(SAMPLES_DIR / sample)


def make_config(start_from: str, steps, lr, rate, seed, batch_size, max_seconds) -> FinetuneConfig:
    """Settings from the form, checked; ``ValueError`` with a sentence if nonsense."""

    def whole(name: str, value) -> int:
        if value is None or isinstance(value, bool):
            raise ValueError(f"{name} is missing.")
        number = float(value)
        if not math.isfinite(number) or number != int(number):
            raise ValueError(f"{name} must be a whole number, got {value}.")
        return int(number)

    n_steps = whole("Steps", steps)
    if n_steps > UI_MAX_STEPS:
        raise ValueError(f"Steps must be at most {UI_MAX_STEPS} here, got {n_steps}.")
    seconds = float(max_seconds) if max_seconds is not None else float(UI_MAX_SECONDS)
    if not math.isfinite(seconds) or not 5 <= seconds <= UI_MAX_SECONDS:
        raise ValueError(
            f"The time budget must be between 5 and {UI_MAX_SECONDS} seconds, got {max_seconds}."
        )
    config = FinetuneConfig(
        steps=n_steps,
        lr=None if lr in (None, "") else float(lr),
        rate=float(rate),
        seed=whole("Seed", seed),
        batch_size=whole("Batch size", batch_size),
        max_seconds=seconds,
        from_scratch=start_from == STARTS[1],
        probe_every=5,
    )
    validate_config(config)
    return config


def parse_probes(text: str | None, mask_token: str) -> tuple[str, ...]:
    """Probe sentences, one a line, each with a mask; at most :data:`MAX_PROBES`."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if len(lines) > MAX_PROBES:
        raise ValueError(f"Give at most {MAX_PROBES} probe sentences, got {len(lines)}.")
    if any(len(line) > 300 for line in lines):
        raise ValueError("Keep each probe sentence under 300 characters.")
    return check_probes(lines, mask_token)


# ------------------------------------------------------------------ views


def _guesses(probe: Probe | None, k: int = 3) -> str:
    if probe is None:
        return ""
    return " | ".join(
        ", ".join(f"{t} {p:.0%}" for t, p in zip(g.tokens[:k], g.probs[:k], strict=True))
        for g in probe.guesses
    )


def probes_table(before: tuple[Probe, ...], now: tuple[Probe, ...], now_label: str) -> pd.DataFrame:
    """One row per probe sentence: top guesses before training and now."""
    rows = []
    for i, b in enumerate(before):
        rows.append(
            {"probe": b.text, "before": _guesses(b), now_label: _guesses(now[i] if i < len(now) else None)}
        )
    return pd.DataFrame(rows, columns=["probe", "before", now_label])


def metrics_table(before: Metrics, after: Metrics | None = None) -> pd.DataFrame:
    """Held-out masked-token accuracy, loss and perplexity before and (once known) after."""
    rows = [
        ("masked-token accuracy", before.accuracy, after.accuracy if after else math.nan),
        ("loss (nats)", before.loss, after.loss if after else math.nan),
        ("perplexity", before.perplexity, after.perplexity if after else math.nan),
    ]
    return pd.DataFrame(
        [
            {"metric": m, "before": round(x, 4), "after": round(y, 4), "change": round(y - x, 4)}
            for m, x, y in rows
        ]
    )


def progress_html(step: int, total: int, text: str) -> str:
    """A progress bar (plain HTML; ``text`` is ours, never user input)."""
    pct = 100.0 * step / max(total, 1)
    return (
        f'<div id="ft-progress"><progress value="{step}" max="{total}" style="width:100%;height:1.2em">'
        f"{pct:.0f}%</progress><div>{text}</div></div>"
    )


def _loss_figure(steps: list[int], losses: list[float]):
    if not steps:
        return plots.empty_figure("The loss curve appears when training starts.")
    return plots.loss_curve(steps, losses, title="Training loss (masked tokens)")


@dataclass(frozen=True)
class View:
    """Every output of the start handler, by name (order: :data:`VIEW_FIELDS`)."""

    session: Session
    status: str = ""
    progress: str = ""
    loss: object = field(default_factory=lambda: _loss_figure([], []))
    probes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["probe", "before", "after"]))
    metrics: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["metric", "before", "after", "change"])
    )
    download: dict = field(default_factory=lambda: gr.update(interactive=False))
    use: dict = field(default_factory=lambda: gr.update(interactive=False))
    start: dict = field(default_factory=lambda: gr.update(interactive=False))
    stop: dict = field(default_factory=lambda: gr.update(interactive=True))

    def outputs(self) -> tuple:
        return tuple(getattr(self, name) for name in VIEW_FIELDS)


VIEW_FIELDS = (
    "session",
    "status",
    "progress",
    "loss",
    "probes",
    "metrics",
    "download",
    "use",
    "start",
    "stop",
)


def _live_view(session: Session, job: Job, started: float) -> View:
    steps, losses, info, live = job.snapshot()
    total = job.config.steps
    step = steps[-1] if steps else 0
    table = metrics = None
    if info is None:
        text = "Measuring the model before training …"
    else:
        metrics = metrics_table(info.before)
        text = (
            f"step {step} / {total} · loss {losses[-1]:.3f} · {info.elapsed:.0f} s of at most "
            f"{job.config.max_seconds:.0f} s · {info.tokens_per_second:,.0f} tokens/s"
        )
        table = probes_table(info.probes_before, live, "now") if info.probes_before else None
    return View(
        session,
        status=f"Training … ({time.monotonic() - started:.0f} s)",
        progress=progress_html(step, total, text),
        loss=_loss_figure(steps, losses),
        **({"probes": table} if table is not None else {}),
        **({"metrics": metrics} if metrics is not None else {}),
    )


def _save_zip(result: FinetuneResult) -> str:
    """Write the model folder and its zip under a unique temporary name; return the zip path."""
    _OUT_ROOT.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - _OUT_MAX_AGE_S
    for old in _OUT_ROOT.iterdir():
        try:
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        except OSError:
            pass  # another session pruned it first
    folder = _OUT_ROOT / uuid.uuid4().hex[:12] / "finetuned-model"
    saved = save_finetuned(result, folder)
    shutil.rmtree(saved.folder, ignore_errors=True)  # the zip is what is downloaded
    return str(saved.zip_path)


def _final_view(session: Session, job: Job, data: TextData) -> View:
    idle = dict(start=gr.update(interactive=True), stop=gr.update(interactive=False))
    steps, losses, _, _ = job.snapshot()
    if job.error is not None or job.result is None:
        message = job.error or "the training ended without a result"
        return View(
            session,
            status=f"⚠️ Training failed: {md_escape(message)}",
            loss=_loss_figure(steps, losses),
            **idle,
        )
    result = job.result
    kind = "fresh model" if result.config.from_scratch else "fine-tuned"
    label = f"{kind} on {data.source}, {result.steps} steps"
    session.own_model = LoadedModel(
        name=f"fine-tuned: {data.source}",
        model=result.model,
        tokenizer=result.tokenizer,
        device=next(result.model.parameters()).device,
    )
    session.own_label = label
    zip_path = _save_zip(result)
    how = {"completed": "finished", "time budget": "stopped by the time budget", "stopped": "stopped by you"}
    held = "held-out" if result.n_heldout else "training (too little text to hold some out)"
    lines = [
        f"**Done** — {result.steps} steps in {result.seconds:.0f} s ({how[result.stopped]}), "
        f"{result.n_train} training examples. On the {held} text, masked-token accuracy "
        f"{result.before.accuracy:.1%} → **{result.after.accuracy:.1%}**, loss {result.before.loss:.2f} → "
        f"**{result.after.loss:.2f}**.",
        "Click **Use this model in the other tabs** to explore it, or download it.",
    ]
    lines += [f"ℹ️ {md_escape(n)}" for n in result.notes]
    return View(
        session,
        status="\n\n".join(lines),
        progress=progress_html(
            result.steps, result.config.steps, f"{result.steps} steps, {how[result.stopped]}"
        ),
        loss=_loss_figure(steps, losses),
        probes=probes_table(result.probes_before, result.probes_after, "after"),
        metrics=metrics_table(result.before, result.after),
        download=gr.update(value=zip_path, interactive=True),
        use=gr.update(interactive=True),
        **idle,
    )


# ------------------------------------------------------------------ handlers


def start_finetune(
    source,
    sample,
    upload,
    pasted,
    text_column,
    start_from,
    steps,
    lr,
    rate,
    seed,
    batch_size,
    max_seconds,
    probes_text,
    session: Session,
):
    """Fine-tune a copy of this session's model (or a fresh one) and stream progress."""
    current = session.extras.get(_JOB_KEY)
    if isinstance(current, Job) and current.running:
        raise user_error("A training is already running in this session: stop it or wait for it to finish.")
    lm = session_model(session)
    try:
        data = read_input(source, sample, upload, pasted, text_column)
        config = make_config(start_from, steps, lr, rate, seed, batch_size, max_seconds)
        probes = parse_probes(probes_text, lm.mask_token)
    except (ValueError, ModelLoadError) as err:
        raise user_error(err) from None

    job = Job(ticket=uuid.uuid4().hex, config=config)
    session.extras[_JOB_KEY] = job
    SLOTS.join(job.ticket)
    started = time.monotonic()
    worker: threading.Thread | None = None
    try:
        while (position := SLOTS.try_start(job.ticket)) > 0:
            if job.stop.is_set():
                yield View(
                    session,
                    status="Cancelled before it started.",
                    start=gr.update(interactive=True),
                    stop=gr.update(interactive=False),
                ).outputs()
                return
            yield View(
                session,
                status=(
                    f"⏳ Waiting for a free trainer: you are **number {position}** in the queue "
                    f"({SLOTS.running} training now)."
                ),
            ).outputs()
            time.sleep(_POLL_S)
        worker = threading.Thread(
            target=_train, args=(job, lm, data, probes), daemon=True, name=f"finetune-{job.ticket[:8]}"
        )
        worker.start()
        while not job.done.wait(_POLL_S):
            yield _live_view(session, job, started).outputs()
        yield _final_view(session, job, data).outputs()
    finally:
        if worker is None:  # never started (stopped while queued, or page closed): free the place
            SLOTS.leave(job.ticket)
            job.done.set()
        elif job.running:  # page closed or event cancelled mid-run: stop the worker too
            job.stop.set()


def stop_finetune(session: Session) -> str:
    """Stop this session's training after the current step."""
    job = session.extras.get(_JOB_KEY)
    if not isinstance(job, Job) or not job.running:
        return "Nothing is training in this session."
    job.stop.set()
    return "Stopping after the current step …"


def use_finetuned(session: Session):
    """Use the model fine-tuned in this session in every tab."""
    try:
        session.use_own_model()
    except ValueError as err:
        raise user_error(err) from None
    return session, f"Now using **{md_escape(session.own_label)}** in every tab."


def suggest_probes(sample: str) -> str:
    """Probe sentences that suit the chosen sample."""
    return SAMPLE_PROBES.get(sample, gr.skip())


def show_source(source: str) -> tuple[dict, dict, dict, dict]:
    """Show only the inputs of the chosen text source (sample, upload + column, paste)."""
    return (
        gr.update(visible=source == SOURCES[0]),
        gr.update(visible=source == SOURCES[1]),
        gr.update(visible=source == SOURCES[2]),
        gr.update(visible=source == SOURCES[1]),
    )


def suggest_lr(start_from: str) -> float:
    """A fresh model wants a larger learning rate than a pretrained one."""
    return LR_SCRATCH if start_from == STARTS[1] else LR_CONTINUE


# ------------------------------------------------------------------ layout


def build_finetune_tab(session: gr.State, hooks=None) -> None:
    """The Fine-tune tab (inside an open ``gr.Tab``)."""
    samples = sample_names()
    first = samples[0] if samples else None
    d = FinetuneConfig()
    gr.Markdown(
        "Train the current model a little more on your own text (or start a **fresh random model** and "
        "watch it learn), with the same 80/10/10 masking the policy tab shows. About a minute on a CPU. "
        "The result belongs to your browser session."
    )
    with gr.Row():
        with gr.Column(scale=2):
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Text to train on", elem_id="ft-source")
            sample = gr.Dropdown(samples, value=first, label="Bundled sample", elem_id="ft-sample")
            upload = gr.File(
                label="Upload (.txt one example a line or paragraphs, .csv/.tsv, .jsonl; up to 5 MB)",
                file_types=[".txt", ".csv", ".tsv", ".jsonl"],
                type="filepath",
                height=120,
                visible=False,
                elem_id="ft-upload",
            )
            pasted = gr.Textbox(
                label="Paste text (one example a line)", lines=5, max_lines=12, visible=False,
                elem_id="ft-paste",
            )
            column = gr.Textbox(
                label="CSV/TSV column or JSONL field (default: text)", visible=False, elem_id="ft-column"
            )
            probes = gr.Textbox(
                SAMPLE_PROBES.get(first, ""),
                label="Probe sentences (one a line, with [MASK])",
                lines=3,
                elem_id="ft-probes",
            )
        with gr.Column(scale=1):
            start_from = gr.Radio(list(STARTS), value=STARTS[0], label="Start from", elem_id="ft-start-from")
            steps = gr.Slider(5, UI_MAX_STEPS, value=d.steps, step=5, label="Steps", elem_id="ft-steps")
            lr = gr.Number(LR_CONTINUE, label="Learning rate", elem_id="ft-lr")
            rate = gr.Slider(0.05, 0.5, value=d.rate, step=0.01, label="Masking rate", elem_id="ft-rate")
            batch = gr.Slider(4, 64, value=d.batch_size, step=4, label="Batch size", elem_id="ft-batch")
            seconds = gr.Slider(
                10, UI_MAX_SECONDS, value=120, step=10, label="Time budget (s)", elem_id="ft-seconds"
            )
            seed = gr.Number(0, label="Seed", precision=0, elem_id="ft-seed")
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="ft-start")
                stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="ft-stop")
    status = gr.Markdown(elem_id="ft-status")
    progress = gr.HTML(elem_id="ft-progress-box")
    with gr.Row():
        loss = gr.Plot(_loss_figure([], []), show_label=False, elem_id="ft-loss")
        metrics = gr.Dataframe(
            pd.DataFrame(columns=["metric", "before", "after", "change"]),
            label="Masked-token metrics before / after", elem_id="ft-metrics",
        )
    probe_table = gr.Dataframe(
        pd.DataFrame(columns=["probe", "before", "after"]),
        label="Probe sentences: top guesses (refreshed every 5 steps)", wrap=True, elem_id="ft-probe-table",
    )
    with gr.Row():
        use = gr.Button("Use this model in the other tabs", interactive=False, elem_id="ft-use")
        download = gr.DownloadButton("Download model (.zip)", interactive=False, elem_id="ft-download")

    views = {
        "session": session,
        "status": status,
        "progress": progress,
        "loss": loss,
        "probes": probe_table,
        "metrics": metrics,
        "download": download,
        "use": use,
        "start": start,
        "stop": stop,
    }
    outputs = [views[name] for name in VIEW_FIELDS]
    inputs = [
        source,
        sample,
        upload,
        pasted,
        column,
        start_from,
        steps,
        lr,
        rate,
        seed,
        batch,
        seconds,
        probes,
        session,
    ]
    # The generator waits in its own queue (with the position shown), so Gradio may
    # admit more of them than trainings actually run.
    start.click(
        start_finetune,
        inputs,
        outputs,
        api_name="finetune_start",
        concurrency_limit=16,
        show_progress="hidden",
    )
    # Stop must never wait behind the training it stops: its own group, no limit.
    stop.click(
        stop_finetune,
        [session],
        [status],
        api_name="finetune_stop",
        concurrency_limit=None,
        show_progress="hidden",
    )
    used = use.click(use_finetuned, [session], [session, status], api_name="finetune_use")
    if hooks is not None:
        used.then(hooks.refresh, [session], hooks.outputs, api_name=False, show_progress="hidden")
    source.change(show_source, [source], [sample, upload, pasted, column], api_name=False,
                  show_progress="hidden")
    sample.change(suggest_probes, [sample], [probes], api_name=False, show_progress="hidden")
    start_from.change(suggest_lr, [start_from], [lr], api_name=False, show_progress="hidden")
