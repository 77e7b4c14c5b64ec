"""Launch the app on loopback for tests (gradio_client and the browser), with a chosen default model."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

_ENV = ("MLM_EXPLORER_MODEL", "MLM_EXPLORER_ALLOW_LOCAL_PATHS")


@contextlib.contextmanager
def running_app(model_dir: Path, allow_local_paths: bool = True) -> Iterator[str]:
    """Build and launch the demo with ``model_dir`` as the operator's default; yields its URL."""
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ["MLM_EXPLORER_MODEL"] = str(model_dir)
    os.environ["MLM_EXPLORER_ALLOW_LOCAL_PATHS"] = "1" if allow_local_paths else "0"
    import app as app_module  # launch settings as in production
    from mlm_explorer.ui import build_demo

    demo = build_demo()
    demo.queue(**{**app_module.queue_options(), "max_size": 32})
    try:
        _, url, _ = demo.launch(
            server_name="127.0.0.1", prevent_thread_lock=True, quiet=True,
            **{k: v for k, v in app_module.launch_options().items() if k != "quiet"},
        )
        yield url
    finally:
        demo.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def table_rows(table: dict) -> list[dict]:
    """A Dataframe as gradio_client returns it (headers + data), one dict per row."""
    return [dict(zip(table["headers"], row, strict=True)) for row in table["data"]]
