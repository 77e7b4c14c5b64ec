"""The Gradio app: a model picker above six tabs. Layout and event wiring only.

Every tab lives in its own module with one ``build_<tab>_tab(session)``;
handlers are plain functions (UI values → config → library call →
DataFrame/figure) with an ``api_name``, so the app is also an API.

Per-session state and the Fine-tune tab contract
------------------------------------------------
``build_demo`` makes one ``gr.State`` holding a :class:`~mlm_explorer.ui.state.Session`
per browser session (freed after ``MLM_EXPLORER_SESSION_TTL`` seconds unused,
and its ``release()`` is called when Gradio deletes it). Every tab receives
that ``gr.State`` and reads the model with ``common.session_model(session)``.

``mlm_explorer/ui/finetune.py`` provides ``build_finetune_tab(session: gr.State) -> None``
(optionally a second parameter, which receives :class:`ModelHooks`); it is
called inside an open ``gr.Tab``. After training it stores its *own copy* of
the model (shared models are never mutated) in ``session.own_model`` with a
short ``session.own_label``; to use it in the other tabs it calls
``session.use_own_model()`` and returns the session from its handler. The
picker, status line and model card follow when the user changes tab (or at
once, chained with ``.then(hooks.refresh, [session], hooks.outputs)``).
Until that module exists, a placeholder tab says so.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from mlm_explorer.models import ModelLoadError
from mlm_explorer.ui import common
from mlm_explorer.ui.about import build_about_tab, model_card
from mlm_explorer.ui.attention import build_attention_tab
from mlm_explorer.ui.fill import build_fill_tab
from mlm_explorer.ui.inside import build_inside_tab
from mlm_explorer.ui.policy import build_policy_tab
from mlm_explorer.ui.score import build_score_tab
from mlm_explorer.ui.state import SESSION_MODEL, Session, release_session, session_ttl

log = logging.getLogger(__name__)

TITLE = "MLM Explorer"

# Readable on a projector and on a 390 px phone: bigger base text, chips that wrap,
# plots that never force a horizontal scroll of the page.
CSS = """
.gradio-container { max-width: min(1280px, 100vw) !important; margin: auto; }
/* Flex items default to min-width:auto, so one wide table or tab strip would widen the
   whole page past a phone's 390 px; let them shrink and scroll inside instead. */
.gradio-container, .gradio-container .main, .gradio-container .wrap, .gradio-container .contain,
.gradio-container .column, .gradio-container .tabs, .gradio-container .tabitem { min-width: 0 !important; }
.gradio-container .tab-container { flex-wrap: wrap !important; height: auto !important; }
#fill-chips .token, #policy-chips .token { cursor: pointer; font-size: 1.05rem; }
.js-plotly-plot, .plot-container { max-width: 100%; }
@media (max-width: 480px) { .gradio-container { padding: 4px !important; } }
"""


@dataclass(frozen=True)
class ModelHooks:
    """What the Fine-tune tab needs to announce a new session model to the picker."""

    refresh: Callable  # refresh_picker: Session -> (picker, status, card) updates
    outputs: list  # [picker, status, card]: the outputs of `refresh`


def _switch(session: Session, key: str, progress: gr.Progress | None = None):
    """Load the model behind ``key`` for this session; on failure keep the old one and say why."""
    if progress is not None:
        progress(0.1, desc=f"Loading {key} …")
    try:
        if key == SESSION_MODEL:
            session.use_own_model()
            lm = session.own_model
        else:
            lm = common.load_key(key)
            session.model_key = key
            session.attention = None  # tensors of another model must not be re-plotted
    except (ModelLoadError, ValueError) as err:
        gr.Warning(common.md_escape(err))
        status = f"⚠️ Could not switch: {common.md_escape(err)} Still using the previous model."
        return session, _picker_update(session), status, _safe_card(session)
    return session, _picker_update(session), common.describe_model(lm, key), _safe_card(session)


def _picker_update(session: Session) -> dict:
    return gr.update(choices=common.model_choices(session), value=session.model_key)


def _safe_card(session: Session) -> str:
    try:
        return model_card(session)
    except gr.Error:
        return "### Current model\n⚠️ No model is loaded: pick one above."


def choose_model(key: str, session: Session, progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
    """Switch this session to a model from the list."""
    return _switch(session, key, progress)


def load_model_by_name(name: str, session: Session, progress=gr.Progress()):  # noqa: B008
    """Switch this session to a Hugging Face id (or a folder, where the operator allows it)."""
    try:
        key = common.check_typed_name(name)
    except ModelLoadError as err:
        gr.Warning(common.md_escape(err))
        return session, _picker_update(session), f"⚠️ {common.md_escape(err)}", _safe_card(session)
    return _switch(session, key, progress)


def refresh_picker(session: Session):
    """Show this session's current model in the picker, the status line and the About card."""
    try:
        status = common.describe_model(common.session_model(session), session.model_key)
    except gr.Error as err:
        status = f"⚠️ {err.message}"
    return _picker_update(session), status, _safe_card(session)


def start_session(session: Session):
    """Fill the picker, status line and model card when a page opens."""
    return refresh_picker(session)


def _build_finetune(session: gr.State, picker_outputs: list) -> None:
    try:
        from mlm_explorer.ui.finetune import build_finetune_tab
    except ImportError:
        gr.Markdown("Fine-tuning in the browser is not installed in this version of the app.")
        return
    if len(inspect.signature(build_finetune_tab).parameters) >= 2:
        build_finetune_tab(session, ModelHooks(refresh=refresh_picker, outputs=picker_outputs))
    else:
        build_finetune_tab(session)


def build_demo() -> gr.Blocks:
    """The whole app, not launched (``app.py`` launches it; tests drive it)."""
    # Gradio keeps a copy of every file it serves (the fine-tune zips are ~85 MB):
    # sweep copies older than 30 minutes every 10 minutes so a busy Space does not fill its disk.
    with gr.Blocks(title=TITLE, delete_cache=(600, 1800)) as demo:
        session = gr.State(
            common.new_session(), time_to_live=session_ttl(), delete_callback=release_session
        )
        gr.Markdown(f"# {TITLE}\nHow does a masked language model fill in the blanks?")
        with gr.Row():
            picker = gr.Dropdown(
                common.model_choices(), value=common.default_key(), label="Model", scale=3, min_width=220,
                elem_id="model-picker",
            )
            custom = gr.Textbox(
                label="…or a Hugging Face id", placeholder="e.g. distilbert/distilroberta-base", scale=3,
                min_width=220,
                elem_id="model-name",
            )
            load_btn = gr.Button("Load", scale=1, min_width=80, elem_id="model-load")
        status = gr.Markdown(elem_id="model-status")
        # Rendered inside the About tab, created here so the Fine-tune tab can refresh it.
        card = gr.Markdown(elem_id="model-card", render=False)
        with gr.Tabs() as tabs:
            with gr.Tab("Fill in the blanks", id="fill"):
                fill_on_load = build_fill_tab(session)
            with gr.Tab("80/10/10 policy", id="policy"):
                build_policy_tab(session)
            with gr.Tab("Attention", id="attention"):
                build_attention_tab(session)
            with gr.Tab("Sentence score", id="score"):
                build_score_tab(session)
            with gr.Tab("Inside", id="inside"):
                build_inside_tab(session)
            with gr.Tab("Fine-tune", id="finetune"):
                _build_finetune(session, [picker, status, card])
            with gr.Tab("About", id="about"):
                build_about_tab(card)

        outputs = [session, picker, status, card]
        picker.input(choose_model, [picker, session], outputs, api_name="choose_model", concurrency_limit=2)
        gr.on(
            [load_btn.click, custom.submit], load_model_by_name, [custom, session], outputs,
            api_name="load_model", concurrency_limit=2,
        )
        # Another tab (Fine-tune) may have switched the session's model: keep the picker honest.
        tabs.change(refresh_picker, [session], [picker, status, card], api_name=False, show_progress="hidden")
        demo.load(start_session, [session], [picker, status, card], api_name="start_session")
        demo.load(fill_on_load.fn, fill_on_load.inputs, fill_on_load.outputs, api_name=False)
        demo.unload(expire_closed_session(demo))
    return demo


def expire_closed_session(demo: gr.Blocks) -> Callable:
    """An unload hook: a closed page's state expires after the session TTL, not Gradio's fixed hour.

    Gradio keeps the state of a closed page (browser tab, or a gradio_client that
    went away) for 3,600 s whatever ``gr.State(time_to_live=...)`` says, so every
    visitor who fine-tuned and left would hold a model copy (~90 MB) for an hour.
    """

    def on_close(request: gr.Request) -> None:
        holder = getattr(demo, "state_holder", None)
        state = getattr(holder, "session_data", {}).get(getattr(request, "session_hash", None))
        if state is not None and hasattr(state, "STATE_TTL_WHEN_CLOSED"):
            state.STATE_TTL_WHEN_CLOSED = min(session_ttl(), state.STATE_TTL_WHEN_CLOSED)

    return on_close
