"""The baseline of ``bench_app.py``: a bare ``gr.Interface`` around transformers' fill-mask pipeline.

Run as ``python bench/bare_fill_mask.py MODEL PORT``. It returns the top-5
fills as JSON and nothing else (no chart, no table, no attention, no exports),
which is what "the simplest possible app" costs.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from transformers import pipeline  # noqa: E402


def main() -> None:
    model, port = sys.argv[1], int(sys.argv[2])
    fill = pipeline("fill-mask", model=model, top_k=5, device="cpu")

    def predict(text: str) -> list:
        """Top-5 fills of the masked text."""
        out = fill(text)
        return [{"token": o["token_str"], "score": float(o["score"])} for o in out]

    demo = gr.Interface(predict, gr.Textbox(label="text"), gr.JSON(label="fills"), api_name="predict",
                        concurrency_limit=4)
    demo.queue(max_size=64).launch(server_name="127.0.0.1", server_port=port, quiet=True)


if __name__ == "__main__":
    main()
