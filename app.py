"""Entry point (``python app.py``; Hugging Face Spaces runs this file).

``import app`` builds the demo without launching it. The launch settings and
the environment variables they read are in :mod:`mlm_explorer.ui.launch`
(``mlm-explorer app`` runs the same thing from an installed package).
"""

from __future__ import annotations

import os

# Set before gradio is imported: it reads this at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from mlm_explorer.ui import build_demo  # noqa: E402
from mlm_explorer.ui.launch import launch_options, queue_options, serve  # noqa: E402

__all__ = ["demo", "launch_options", "queue_options"]

demo = build_demo()

if __name__ == "__main__":
    serve(demo)
