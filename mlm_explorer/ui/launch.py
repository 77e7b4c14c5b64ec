"""Launch the web app: the settings that protect a shared server, in one place.

``app.py`` (what a Hugging Face Space runs) and ``mlm-explorer app`` (an
installed package) both call :func:`serve`. Launch settings protect a shared
server: a bounded queue, per-event concurrency limits (set where the events are
wired), a maximum upload size, no extra readable paths, and no analytics, run
history or monitoring.

Environment variables: ``MLM_EXPLORER_MODEL`` (default model: a hub id or a
folder), ``MLM_EXPLORER_SESSION_TTL`` (seconds a visitor's state is kept),
``MLM_EXPLORER_ALLOW_LOCAL_PATHS=1`` (let visitors load server folders by
path), ``MLM_EXPLORER_DISK_BUDGET_MB`` (disk the app's temporary files may
use, default 2,000), ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` (where to listen).
Callers set ``GRADIO_ANALYTICS_ENABLED=False`` before gradio is first imported (it reads it then).
"""

from __future__ import annotations

import logging

import gradio as gr

from mlm_explorer.models import ModelLoadError, load_model
from mlm_explorer.serving import configure_threads, limit_malloc_arenas
from mlm_explorer.ui import CSS, HEAD, build_demo
from mlm_explorer.ui.common import ATTENTION_CONCURRENCY, INFERENCE_CONCURRENCY, start_disk_janitor

QUEUE_MAX_SIZE = 64  # requests waiting beyond this get "queue full" instead of minutes of waiting
DEFAULT_CONCURRENCY = 2  # events without their own limit: two vCPUs on a free Space
MAX_FILE_SIZE = "5mb"  # uploads are small texts for fine-tuning

def preload_default_model() -> None:
    """Load the default model before the first visitor; the app starts (and says why) without one."""
    try:
        load_model()
    except ModelLoadError as err:
        logging.getLogger("mlm_explorer").warning("Default model not loaded: %s", err)


def launch_options() -> dict:
    """Keyword arguments of ``launch()`` (shared with the tests, so they run what production runs)."""
    return dict(
        max_file_size=MAX_FILE_SIZE,
        allowed_paths=[],  # nothing beyond Gradio's own cache is served
        # Gradio runs handlers on a pool of 40 threads by default; the model events alone may take
        # 32 + 8 of them (ui/common.py), so light events (tokenize, re-plot) would wait behind a burst.
        max_threads=INFERENCE_CONCURRENCY + ATTENTION_CONCURRENCY + 24,
        run_history=False,
        enable_monitoring=False,
        show_error=False,  # user mistakes arrive as gr.Error messages; no tracebacks to the browser
        css=CSS,
        head=HEAD,  # preloads plotly.js: every page opens with a figure
        theme=gr.themes.Soft(text_size="lg"),
        footer_links=["api"],
    )


def queue_options() -> dict:
    """Keyword arguments of ``queue()`` (shared with the tests)."""
    return dict(
        max_size=QUEUE_MAX_SIZE,
        default_concurrency_limit=DEFAULT_CONCURRENCY,
        # Off a Space, Gradio also answers queued events by direct POST (/gradio_api/run/...),
        # outside the queue and its concurrency limits; every request must wait its turn.
        api_open=False,
    )


def serve(demo: gr.Blocks | None = None, **overrides) -> None:
    """Set the process up for serving, preload the default model, launch ``demo`` (default: a new one)."""
    demo = demo if demo is not None else build_demo()
    limit_malloc_arenas()  # memory a request used goes back to the OS (bench/worst_case.py)
    configure_threads()  # the cores less one for the model, one for Gradio (mlm_explorer/serving.py)
    preload_default_model()
    start_disk_janitor()  # the app's temporary files stay within MLM_EXPLORER_DISK_BUDGET_MB
    demo.queue(**queue_options())
    demo.launch(**(launch_options() | overrides))
