"""Launch the web app: the settings that protect a shared server, in one place.

``app.py`` (what a Hugging Face Space runs) and ``mlm-explorer app`` (an
installed package) both call :func:`serve`. Launch settings protect a shared
server: a bounded queue, per-event concurrency limits (set where the events are
wired), a maximum upload size, no extra readable paths, and no analytics, run
history or monitoring.

Environment variables: ``MLM_EXPLORER_MODEL`` (default model: a hub id or a
folder), ``MLM_EXPLORER_SESSION_TTL`` (seconds a visitor's state is kept),
``MLM_EXPLORER_ALLOW_LOCAL_PATHS=1`` (let visitors load server folders by
path), ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` (where to listen). Callers set
``GRADIO_ANALYTICS_ENABLED=False`` before gradio is first imported (it reads it then).
"""

from __future__ import annotations

import logging

import gradio as gr

from mlm_explorer.models import ModelLoadError, load_model
from mlm_explorer.ui import CSS, build_demo

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
        run_history=False,
        enable_monitoring=False,
        show_error=False,  # user mistakes arrive as gr.Error messages; no tracebacks to the browser
        css=CSS,
        theme=gr.themes.Soft(text_size="lg"),
        footer_links=["api"],
    )


def serve(demo: gr.Blocks | None = None, **overrides) -> None:
    """Preload the default model, then launch ``demo`` (default: a new one) until stopped."""
    demo = demo if demo is not None else build_demo()
    preload_default_model()
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=DEFAULT_CONCURRENCY)
    demo.launch(**(launch_options() | overrides))
