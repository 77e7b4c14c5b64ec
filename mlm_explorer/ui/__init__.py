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

``mlm_explorer/ui/finetune.py`` provides ``build_finetune_tab(session, hooks)``,
called inside an open ``gr.Tab``. A training keeps its *own copy* of the model
(shared models are never mutated) in its job; only when the user presses
"Use this model" does it become ``session.own_model`` (with a short
``session.own_label``) and ``session.use_own_model()`` switch every tab to it.
The picker, status line and model card follow at once, chained with
``.then(hooks.refresh, [session], hooks.outputs)`` (:class:`ModelHooks`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import gradio as gr

from mlm_explorer.links import MAX_LINK_TEXT, cut_fields, problems_message, read_link
from mlm_explorer.models import ModelLoadError
from mlm_explorer.ui import common, look
from mlm_explorer.ui.about import build_about_tab, model_card
from mlm_explorer.ui.activities import build_class_tab
from mlm_explorer.ui.attention import build_attention_tab
from mlm_explorer.ui.fill import build_fill_tab
from mlm_explorer.ui.finetune import build_finetune_tab
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
#fill-chips .token, #policy-chips .token { cursor: pointer; font-size: 1.05rem; }
.js-plotly-plot, .plot-container { max-width: 100%; }
""" + look.CSS
HEAD = look.head_html()

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
        gr.Warning(common.toast_text(err))
        status = f"⚠️ Could not switch: {common.md_escape(err)} Still using the previous model."
        return session, _picker_update(session), status, _safe_card(session)
    return session, _picker_update(session), common.describe_model(lm, key), _safe_card(session)


def _hide() -> dict:
    return gr.update(visible=False)


def _picker_update(session: Session) -> dict:
    return gr.update(choices=common.model_choices(session), value=session.model_key)


def _safe_card(session: Session) -> str:
    try:
        return model_card(session)
    except gr.Error:
        return "### Current model\n⚠️ No model is loaded: pick one above."


def choose_model(key: str, session: Session, progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
    """Switch this session to a model from the list."""
    if not isinstance(key, str) or not key:  # a cleared picker, or an API call with no name
        status = "⚠️ Choose a model from the list. Still using the previous model."
        return session, _picker_update(session), status, _safe_card(session)
    return _switch(session, key, progress)


def load_model_by_name(name: str, session: Session, progress=gr.Progress()):  # noqa: B008
    """Switch this session to a Hugging Face id (or a folder, where the operator allows it)."""
    try:
        key = common.check_typed_name(name)
    except ModelLoadError as err:
        gr.Warning(common.toast_text(err))
        return session, _picker_update(session), f"⚠️ {common.md_escape(err)}", _safe_card(session)
    return _switch(session, key, progress)


def refresh_picker(session: Session):
    """Show this session's current model in the picker, the status line and the About card."""
    try:
        status = common.describe_model(common.session_model(session), session.model_key)
    except gr.Error as err:
        status = f"⚠️ {err.message}"
    return _picker_update(session), status, _safe_card(session)


def start_session(page: str, session: Session, progress=gr.Progress()):  # noqa: B008
    """Open a page: remember how it looks, apply a state link's model, fill the picker and status."""
    session.extras[look.LOOK_KEY] = look.page_look(page)
    params = dict(parse_qsl(str(look._page_info(page).get("search", "")).lstrip("?")))
    key = params.get("model")
    offered = {k for _, k in common.model_choices()}  # presets, bundled, folders: never a typed name
    if key and key in offered and key != session.model_key:
        session, picker, status, card = _switch(session, key, progress)
        return session, picker, status, card
    return session, *refresh_picker(session)


def apply_link(page: str, session: Session, tab_ids: list[str], fields: list[look.LinkField]) -> tuple:
    """The updates a state link asks for: the tab, the current-tab marker and one per linked input."""
    state = read_link(str(look._page_info(page).get("search", "")), fields, tab_ids)
    tab, values = state.tab, list(state.values)
    if state.problems:  # a hand-edited link: say what was not used, the page opens with the rest
        gr.Warning(problems_message(state.problems))
    look.remember_linked(session, fields, values)
    tab_update = gr.Tabs(selected=tab) if tab else gr.skip()
    return (tab_update, tab or gr.skip(), *(gr.skip() if v is None else v for v in values))


def link_for(tab: str, fields: list[look.LinkField], values: list, session: Session, projector: bool) -> str:
    """The query string of this page's state: the tab, its inputs, the model when it is one offered."""
    query = look.make_link(tab or "fill", fields, values, projector=projector)
    offered = {k for _, k in common.model_choices()} - {common.default_key()}
    if session.model_key in offered:
        query += "&" + urlencode({"model": session.model_key})
    return query


LINK_LABEL = "Link to this view (copied)"


def build_demo() -> gr.Blocks:
    """The whole app, not launched (``app.py`` launches it; tests drive it)."""
    # Gradio keeps a copy of every file it serves (the fine-tune zips are ~85 MB):
    # sweep copies older than 30 minutes every 10 minutes so a busy Space does not fill its disk.
    with gr.Blocks(title=TITLE, delete_cache=(600, 1800)) as demo:
        session = gr.State(
            common.new_session(), time_to_live=session_ttl(), delete_callback=release_session
        )
        with gr.Row(equal_height=True, elem_id="app-header"):
            gr.Markdown(
                f"# {TITLE}\nHow does a masked language model fill in the blanks?", elem_id="app-title",
            )
            copy_btn = gr.Button("Copy link", size="sm", scale=0, min_width=120, elem_id="copy-link")
            projector_btn = gr.Button(
                "Projector mode", size="sm", scale=0, min_width=130, elem_id="projector-mode"
            )
        link_box = gr.Textbox(
            label=LINK_LABEL, visible=False, interactive=False, buttons=["copy"],
            elem_id="link-box",
        )
        # Folds on a phone (the page script closes it there), so the first screen shows the tabs.
        with gr.Accordion("Model", open=True, elem_id="model-accordion"):
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
        gr.HTML(look.legend_html(), elem_id="legend")
        page = gr.Textbox(visible=False)  # what the browser reports when the page opens (look.PAGE_JS)
        current_tab = gr.Textbox(value="fill", visible=False)
        # Rendered inside the About tab, created here so the Fine-tune tab can refresh it.
        card = gr.Markdown(elem_id="model-card", render=False)
        # Eight short tab names wrap onto two rows on a phone rather than hide behind a menu.
        with gr.Tabs(overflow_behavior="wrap") as tabs:
            with gr.Tab("Fill", id="fill"):
                fill = build_fill_tab(session)
            with gr.Tab("80/10/10", id="policy"):
                policy = build_policy_tab(session)
            with gr.Tab("Attention", id="attention"):
                attention = build_attention_tab(session)
            with gr.Tab("Score", id="score"):
                score = build_score_tab(session)
            with gr.Tab("Inside", id="inside"):
                build_inside_tab(session)
            with gr.Tab("Class", id="class"):
                class_parts = build_class_tab(session)
            with gr.Tab("Fine-tune", id="finetune"):
                finetune = build_finetune_tab(session, ModelHooks(refresh_picker, [picker, status, card]))
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
        # A link copied on one tab is not a link to the next: the box goes when the tab changes.
        tabs.change(_hide, None, [link_box], api_name=False, queue=False, show_progress="hidden")
        tab_ids = [t.id for t in tabs.children if isinstance(t, gr.Tab) and t.id is not None]
        for tab in tabs.children:  # remember the open tab for links (in the browser: no server call)
            if isinstance(tab, gr.Tab) and tab.id is not None:
                tab.select(None, None, [current_tab], js=f"() => {tab.id!r}", api_name=False, queue=False)
        # Each tab's link fields and first results, by tab id (a new tab adds its TabParts here).
        parts = {
            "fill": fill, "policy": policy, "attention": attention, "score": score, "class": class_parts,
            "finetune": finetune,
        }
        _wire_links(demo, session, tabs, current_tab, page, tab_ids, parts,
                    [picker, status, card], copy_btn, projector_btn, link_box)
        demo.unload(expire_closed_session(demo))
    return demo


def _wire_links(demo, session, tabs, current_tab, page, tab_ids, parts, picker_outputs, copy_btn,
                projector_btn, link_box) -> None:
    """Page open: read the page and its link, then draw each tab's first result; and the link buttons."""
    fields = [f for p in parts.values() for f, _ in p.links]
    inputs = [c for p in parts.values() for _, c in p.links]

    def open_link(page_info: str, session: Session):
        """Set the tab and inputs a state link names."""
        return apply_link(page_info, session, tab_ids, fields)

    def copy_link(tab: str, session: Session, *values):
        """This view as a link (the browser puts it in the address bar and on the clipboard)."""
        query = link_for(tab, fields, list(values), session, look.session_look(session).projector)
        cut = cut_fields(tab or "fill", fields, list(values))
        note = f" ⚠️ {', '.join(cut)} cut to {MAX_LINK_TEXT:,} characters: students get only the start"
        label = LINK_LABEL + (note if cut else "")
        return gr.update(value=query, visible=True, label=label)

    def toggle_projector(tab: str, session: Session, *values):
        """The same view with projector mode switched (the browser reopens it)."""
        if session.own_model is not None:  # a reload starts a new session: the trained model would go
            gr.Warning("Projector mode reopens the page, which would drop the model fine-tuned here. "
                       "Add ?projector=1 to the address before training next time.")
            return ""
        return link_for(tab, fields, list(values), session, not look.session_look(session).projector)

    opened = demo.load(None, None, [page], js=look.PAGE_JS, api_name=False, queue=False)
    opened = opened.then(start_session, [page, session], [session, *picker_outputs], api_name="start_session")
    # Queued: a hand-edited link's warning (gr.Warning) reaches the page only from a queued event.
    opened = opened.then(
        open_link, [page, session], [tabs, current_tab, *inputs], api_name=False, show_progress="hidden"
    )
    for p in parts.values():
        if p.on_open is not None:
            opened = opened.then(p.on_open.fn, p.on_open.inputs, p.on_open.outputs, api_name=False,
                                 show_progress="minimal")
    for tab_id, p in parts.items():
        for on_link in p.on_link if isinstance(p.on_link, list) else [p.on_link]:
            if on_link is not None:
                opened = opened.then(_when_linked(tab_id, on_link.fn, len(on_link.outputs)),
                                     [current_tab, *on_link.inputs], on_link.outputs, api_name=False)
    copy_btn.click(
        copy_link, [current_tab, session, *inputs], [link_box], api_name="copy_link", queue=False
    ).then(None, [link_box], [link_box], js=look.COPY_JS, api_name=False, queue=False)
    projector_btn.click(
        toggle_projector, [current_tab, session, *inputs], [link_box], api_name=False, queue=False
    ).then(None, [link_box], [link_box], js=look.RELOAD_JS, api_name=False, queue=False)


def _when_linked(tab_id: str, fn: Callable, n_outputs: int) -> Callable:
    """Run ``fn`` at page open only when a link opened ``tab_id`` (its main action, e.g. Score)."""

    def run(tab: str, *args):
        if tab != tab_id:
            return tuple(gr.skip() for _ in range(n_outputs))
        try:
            return fn(*args)
        except gr.Error as err:
            # The page still opens (an error would mark every output failed), but the class is told
            # why nothing was drawn: a link whose values parse and cannot run ("prompt=no blanks").
            gr.Warning(f"This link opened the page, but its action could not run: {err.message}")
            return tuple(gr.skip() for _ in range(n_outputs))

    run.__doc__ = f"Run the {tab_id} tab's action when a link opens it."
    return run


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
