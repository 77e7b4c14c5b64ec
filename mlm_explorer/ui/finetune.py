"""Fine-tune tab: train a copy of the current model (or a fresh one) on a small text, live.

Layout and wiring only; the work is :func:`mlm_explorer.finetune.finetune`,
run by a :class:`~mlm_explorer.ui.jobs.Job` (admission, worker thread, zip),
with tables from :mod:`mlm_explorer.views`. How a run is driven:

- ``finetune_start`` is a *generator*: it checks the input (the library's
  :func:`~mlm_explorer.finetune.validate_config`, with the app's tighter
  limits), claims the session's one job, waits for a free trainer (queue
  position shown), starts the worker and, every half second, yields the loss
  curve, a progress bar and the probe sentences' current guesses. Gradio's
  ``cancels=`` cannot stop a running plain function, so the run itself is
  stopped through a ``threading.Event`` that the library checks every step.
- ``finetune_stop`` sets that event; the run ends after the current step and
  the tab shows what it had learned so far.
- The job and its model live in the browser session's state, so one visitor's
  training never shows up in, or changes, another's results. A new run never
  changes the model the other tabs use: only "Use this model" does.
- When the generator is cancelled (the page closed), its ``finally`` sets the
  event, so no orphaned training keeps a CPU busy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import gradio as gr
import pandas as pd

from mlm_explorer import plots
from mlm_explorer.data import SUPPORTED_SUFFIXES, DataError, TextData, read_file, read_pasted
from mlm_explorer.finetune import FinetuneConfig, Limits, check_probes, default_lr, validate_config
from mlm_explorer.models import ASSETS_DIR, ModelLoadError
from mlm_explorer.ui import look
from mlm_explorer.ui.common import default_key, md_escape, session_model, user_error
from mlm_explorer.ui.jobs import SLOTS, Job, adopt, claim, current_job, save_zip
from mlm_explorer.ui.look import TabParts
from mlm_explorer.ui.state import OnLoad, Session
from mlm_explorer.views import METRIC_COLUMNS, PROBE_COLUMNS, metrics_table, probes_table

if TYPE_CHECKING:
    from mlm_explorer.ui import ModelHooks

SAMPLES_DIR = ASSETS_DIR / "data"
SOURCES = ("Bundled sample", "Upload a file", "Paste text")
STARTS = ("Current model", "Fresh random model (watch it learn)")
#: Probe sentences offered with each bundled sample.
SAMPLE_PROBES = {
    "recipes.txt": "Whisk the eggs with the [MASK] in a large bowl.\nBake the bread in a hot [MASK].",
    "science.txt": "The chemical symbol for gold is [MASK].\nMars is the fourth [MASK] from the Sun.",
    "nursery.txt": "The cow says [MASK].\nThe little duck sleeps in the [MASK].",
}
#: The app's limits (the library has its own, larger ones): a shared CPU server stays responsive.
UI_LIMITS = Limits(steps=1000, seconds=300, batch_size=64)
MAX_PROBES = 5
_POLL_S = 0.5  # how often the tab redraws while training
RUNS_KEY = "finetune_runs"  # session.extras: [(name, steps, losses)] of this session's finished runs
MAX_RUNS = 6  # earlier runs kept on the loss figure: more lines would be unreadable on a phone


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
    """Settings from the form, checked by the library with the app's limits; ``ValueError`` if nonsense."""
    return validate_config(
        FinetuneConfig(
            steps=steps,
            lr=None if lr in (None, "") else lr,
            rate=rate,
            seed=seed,
            batch_size=batch_size,
            max_seconds=UI_LIMITS.seconds if max_seconds is None else max_seconds,
            from_scratch=start_from == STARTS[1],
            probe_every=5,
        ),
        UI_LIMITS,
    )


def parse_probes(text: str | None, mask_token: str) -> tuple[str, ...]:
    """Probe sentences, one a line, each with a mask; at most :data:`MAX_PROBES`."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if len(lines) > MAX_PROBES:
        raise ValueError(f"Give at most {MAX_PROBES} probe sentences, got {len(lines)}.")
    if any(len(line) > 300 for line in lines):
        raise ValueError("Keep each probe sentence under 300 characters.")
    return check_probes(lines, mask_token)


# ------------------------------------------------------------------ views


def progress_html(step: int, total: int, text: str) -> str:
    """A progress bar (plain HTML; ``text`` is ours, never user input)."""
    pct = 100.0 * step / max(total, 1)
    return (
        f'<div id="ft-progress"><progress value="{step}" max="{total}" style="width:100%;height:1.2em">'
        f"{pct:.0f}%</progress><div>{text}</div></div>"
    )


def _runs(session: Session) -> list[tuple[str, list[int], list[float]]]:
    runs = session.extras.get(RUNS_KEY) if session is not None else None
    return runs if isinstance(runs, list) else []


def _run_name(session: Session, job: Job) -> str:
    """"run 3: recipes.txt (fresh)": numbered in the session, so earlier runs are told apart."""
    number = session.extras.get(RUNS_KEY + "_count", 0) + 1
    fresh = " (fresh)" if job.config.from_scratch else ""
    return f"run {number}: {job.data_source or 'text'}{fresh}"


def _remember_run(session: Session, job: Job) -> None:
    """Keep a finished run's curve for the next runs' figures (the last :data:`MAX_RUNS`)."""
    steps, losses, _, _ = job.snapshot()
    if not steps:
        return
    name = _run_name(session, job)
    session.extras[RUNS_KEY + "_count"] = session.extras.get(RUNS_KEY + "_count", 0) + 1
    session.extras[RUNS_KEY] = [*_runs(session), (name, steps, losses)][-MAX_RUNS:]


def _loss_figure(session: Session | None, job: Job | None = None):
    """This session's earlier runs and ``job`` (the current one, on top), fitted to the page."""
    runs = list(_runs(session))
    if job is not None:
        steps, losses, _, _ = job.snapshot()
        runs.append((_run_name(session, job), steps, losses))
    if not any(steps for _, steps, _ in runs):
        fig = plots.empty_figure("The loss curve appears when training starts.")
    else:
        fig = plots.loss_runs_chart(runs)
    return look.figure(fig, session) if session is not None else fig


def _metrics_view(frame: pd.DataFrame, session: Session | None = None):
    """Accuracy in percent, loss and perplexity with two decimals; columns not known yet hidden.

    A :class:`pandas.io.formats.style.Styler`: the page shows its text, API callers get the numbers.
    On a phone (the look's narrow mode) the "change" column is left out: before and after fit 390 px
    side by side, and the status line above says how much each moved.
    """
    values = [c for c in frame.columns if c != "metric" and frame[c].notna().any()]
    if session is not None and look.session_look(session).narrow:
        values = [c for c in values if c != "change"]
    styler = frame[["metric", *values]].style.hide(axis="index")
    for i, metric in enumerate(frame["metric"]):
        percent = "accuracy" in str(metric)
        for column in values:
            sign = "+" if column == "change" else ""
            if percent:
                # 41.4% → 62.1% is +20.7 percentage points (a relative change of +50%): say points
                shown = _points if column == "change" else "{:.1%}"
            else:
                shown = partial(_amount, sign=sign)
            styler = styler.format(shown, subset=pd.IndexSlice[[i], [column]], na_rep="")
    return styler


def _points(change: float) -> str:
    """A change of a share in percentage points.

    >>> _points(0.2069), _points(-0.05)
    ('+20.7 pts', '-5.0 pts')
    """
    return f"{100 * change:+.1f} pts"


def _amount(value: float, sign: str = "") -> str:
    """Two decimals, none from 1,000 up: a fresh model's perplexity (~30,000) stays narrow on a phone.

    >>> _amount(4.3321), _amount(34949.2), _amount(-40.19, "+")
    ('4.33', '34,949', '-40.19')
    """
    return f"{value:{sign},.0f}" if abs(value) >= 1000 else f"{value:{sign},.2f}"


@dataclass(frozen=True)
class View:
    """Every output of the start handler, by name (order: :data:`VIEW_FIELDS`)."""

    session: Session
    status: str = ""
    progress: str = ""
    loss: object = field(default_factory=lambda: _loss_figure(None))
    probes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROBE_COLUMNS))
    metrics: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=METRIC_COLUMNS))
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
        metrics = _metrics_view(metrics_table(info.before), session)
        text = (
            f"step {step} / {total} · loss {losses[-1]:.3f} · {info.elapsed:.0f} s of at most "
            f"{job.config.max_seconds:.0f} s · {info.tokens_per_second:,.0f} tokens/s"
        )
        table = probes_table(info.probes_before, live, "now") if info.probes_before else None
    return View(
        session,
        status=f"Training … ({time.monotonic() - started:.0f} s)",
        progress=progress_html(step, total, text),
        loss=_loss_figure(session, job),
        **({"probes": table} if table is not None else {}),
        **({"metrics": metrics} if metrics is not None else {}),
    )


def _final_view(session: Session, job: Job, data: TextData) -> View:
    idle = dict(start=gr.update(interactive=True), stop=gr.update(interactive=False))
    _remember_run(session, job)
    if job.error is not None or job.result is None:
        message = job.error or "the training ended without a result"
        return View(
            session,
            status=f"⚠️ Training failed: {md_escape(message)}",
            loss=_loss_figure(session),
            **idle,
        )
    result = job.result
    zip_path = save_zip(result)
    how = {"completed": "finished", "time budget": "stopped by the time budget", "stopped": "stopped by you"}
    held = "held-out" if result.n_heldout else "training (too little text to hold some out)"
    lines = [
        f"**Done** — {result.steps} steps in {result.seconds:.0f} s ({how[result.stopped]}), "
        f"{result.n_train} training examples. On the {held} text, masked-token accuracy "
        f"{result.before.accuracy:.1%} → **{result.after.accuracy:.1%}**, loss {result.before.loss:.2f} → "
        f"**{result.after.loss:.2f}**.",
        "The other tabs keep their model until you click **Use this model in the other tabs**; "
        "or download it.",
    ]
    lines += [f"ℹ️ {md_escape(n)}" for n in result.notes]
    return View(
        session,
        status="\n\n".join(lines),
        progress=progress_html(
            result.steps, result.config.steps, f"{result.steps} steps, {how[result.stopped]}"
        ),
        loss=_loss_figure(session),
        # Plain: look.table keeps a phone's few prediction columns, and a probe's are all text.
        probes=probes_table(result.probes_before, result.probes_after, "after"),
        metrics=_metrics_view(metrics_table(result.before, result.after), session),
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
    lm = session_model(session)
    try:
        data = read_input(source, sample, upload, pasted, text_column)
        config = make_config(start_from, steps, lr, rate, seed, batch_size, max_seconds)
        probes = parse_probes(probes_text, lm.mask_token)
    except (ValueError, ModelLoadError) as err:
        raise user_error(err) from None
    job = Job(config=config)
    if not claim(session, job):
        raise user_error("A training is already running in this session: stop it or wait for it to finish.")
    SLOTS.join(job.ticket)
    started = time.monotonic()
    try:
        while (position := SLOTS.try_start(job.ticket)) > 0:
            if job.stop.is_set():
                yield View(
                    session,
                    status="Cancelled before it started.",
                    loss=_loss_figure(session),
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
                loss=_loss_figure(session, job),
            ).outputs()
            time.sleep(_POLL_S)
        job.start(lm, data, probes)
        while not job.done.wait(_POLL_S):
            yield _live_view(session, job, started).outputs()
        yield _final_view(session, job, data).outputs()
    finally:
        if job.thread is None:  # never started (stopped while queued, or page closed): free the place
            job.finish()
        elif job.running:  # page closed or event cancelled mid-run: stop the worker too
            job.stop.set()


def stop_finetune(session: Session) -> str:
    """Stop this session's training after the current step."""
    job = current_job(session)
    if job is None or not job.running:
        return "Nothing is training in this session."
    job.stop.set()
    return "Stopping after the current step …"


def use_finetuned(session: Session):
    """Use the model fine-tuned in this session in every tab."""
    try:
        label = adopt(session)
    except ValueError as err:
        raise user_error(err) from None
    return session, f"Now using **{md_escape(label)}** in every tab."


def back_to_default(session: Session):
    """Use the app's default model in every tab again (the fine-tuned one stays in the picker)."""
    session.model_key = default_key()
    session.attention = None  # tensors of another model must not be re-plotted
    return session, "Back to the default model in every tab; the fine-tuned one stays in the model list."


def open_finetune(session: Session):
    """The loss figure as this page shows it (theme, width), with the session's earlier runs."""
    return _loss_figure(session)


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
    return default_lr(start_from == STARTS[1])


# ------------------------------------------------------------------ layout


def build_finetune_tab(session: gr.State, hooks: ModelHooks) -> TabParts:
    """The Fine-tune tab (inside an open ``gr.Tab``); ``hooks`` refresh the picker after "Use"."""
    samples = sample_names()
    first = samples[0] if samples else None
    d = FinetuneConfig()
    gr.Markdown(
        "Train the current model a little more on your own text (or start a **fresh random model** and "
        "watch it learn), with the masking the 80/10/10 tab shows. About a minute on a CPU. "
        "The result belongs to your browser session."
    )
    with gr.Row(equal_height=False, elem_classes=["two-up"]):
        with gr.Column(scale=2):
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Text to train on", elem_id="ft-source")
            sample = gr.Dropdown(samples, value=first, label="Bundled sample", elem_id="ft-sample")
            upload = gr.File(
                label="Upload (.txt one example a line or paragraphs, .csv/.tsv, .jsonl; up to 5 MB)",
                file_types=list(SUPPORTED_SUFFIXES),
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
            steps = gr.Slider(5, UI_LIMITS.steps, value=d.steps, step=5, label="Steps", elem_id="ft-steps")
            lr = gr.Number(default_lr(False), label="Learning rate", elem_id="ft-lr")
            rate = gr.Slider(0.05, 0.5, value=d.rate, step=0.01, label="Masking rate", elem_id="ft-rate")
            batch = gr.Slider(
                4, UI_LIMITS.batch_size, value=d.batch_size, step=4, label="Batch size", elem_id="ft-batch"
            )
            seconds = gr.Slider(
                10, UI_LIMITS.seconds, value=120, step=10, label="Time budget (s)", elem_id="ft-seconds"
            )
            seed = gr.Number(0, label="Seed", precision=0, elem_id="ft-seed")
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="ft-start")
                stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="ft-stop")
    status = gr.Markdown(elem_id="ft-status")
    progress = gr.HTML(elem_id="ft-progress-box")
    with gr.Row(equal_height=False, elem_classes=["two-up"]):
        with gr.Column(scale=1):
            loss = gr.Plot(_loss_figure(None), show_label=False, elem_id="ft-loss")
        with gr.Column(scale=1):
            metrics = gr.Dataframe(
                pd.DataFrame(columns=METRIC_COLUMNS),
                label="Masked-token metrics before / after", elem_id="ft-metrics", wrap=True,
            )
    probe_table = gr.Dataframe(
        pd.DataFrame(columns=PROBE_COLUMNS),
        label="Probe sentences: top guesses (refreshed every 5 steps)", wrap=True, elem_id="ft-probe-table",
        column_widths=["34%", "33%", "33%"],  # all three wrap in view on a phone, none scrolled away
    )
    with gr.Row(elem_classes=["action-row"]):
        use = gr.Button("Use this model in the other tabs", interactive=False, elem_id="ft-use")
        back = gr.Button("Back to the default model", elem_id="ft-back")
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
    used.then(hooks.refresh, [session], hooks.outputs, api_name=False, show_progress="hidden")
    went_back = back.click(back_to_default, [session], [session, status], api_name="finetune_back")
    went_back.then(hooks.refresh, [session], hooks.outputs, api_name=False, show_progress="hidden")
    source.change(show_source, [source], [sample, upload, pasted, column], api_name=False,
                  show_progress="hidden")
    sample.change(suggest_probes, [sample], [probes], api_name=False, show_progress="hidden")
    start_from.change(suggest_lr, [start_from], [lr], api_name=False, show_progress="hidden")
    return TabParts(links=[], on_open=OnLoad(open_finetune, [session], [loss]))
