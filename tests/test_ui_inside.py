"""The Inside tab through its API: four views, exports, re-plots without the model, markup as text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from tests.app_server import running_app, table_rows  # noqa: E402

HOSTILE = "<img src=x onerror=alert(1)> <b>bold</b> [MASK]"


@pytest.fixture(scope="module")
def server(tiny_roberta_dir: Path):
    """The app with the tiny RoBERTa (its byte-level vocabulary keeps "<" and ">" as they are)."""
    with running_app(tiny_roberta_dir) as url:
        yield url


@pytest.fixture()
def client(server: str) -> Client:
    return Client(server, verbose=False)




def _file(update) -> Path:
    return Path(update["value"] if isinstance(update, dict) else update)


def test_the_four_views_are_endpoints(server: str):
    api = Client(server, verbose=False).view_api(return_format="dict")["named_endpoints"]
    assert {"/layers", "/saliency", "/attention_diff", "/attention_diff_plot", "/tokenizer"} <= set(api)


def test_saliency_has_its_own_queue():
    from mlm_explorer.ui import build_demo

    demo = build_demo()
    (fn,) = [f for f in demo.fns.values() if f.api_name == "saliency"]
    assert fn.concurrency_limit == 1 and fn.concurrency_id == "saliency"


def test_layers_view(client: Client):
    heat, ranks, note, table = client.predict("the cat sat on the <mask> .", "", "", 3, api_name="/layers")
    rows = table_rows(table)
    assert [r["layer"] for r in rows] == ["embeddings", "1", "2"]
    assert rows[-1]["final answer's rank"] == 1
    assert "first choice" in note
    assert json.loads(heat["plot"])["data"][0]["type"] == "heatmap"
    assert _file(client.predict(api_name="/export_layers_csv")).read_text().startswith("layer,")
    exported = json.loads(_file(client.predict(api_name="/export_layers_json")).read_text())
    assert exported[0]["layer"] == "embeddings"


def test_saliency_view(client: Client):
    plot, note, table = client.predict(
        "the cat sat on the mat .", "2", "", "", 8, "all-[MASK]", api_name="/saliency"
    )
    rows = table_rows(table)
    assert rows[2]["token"] == "<mask>" and rows[2]["IG"] == 0.0
    assert "Integrated gradients add up to" in note
    assert len(json.loads(plot["plot"])["data"][0]["z"]) == 2  # grad × input and IG rows
    assert _file(client.predict(api_name="/export_saliency_csv")).read_text().startswith("pos.,")


def test_attention_change_view_and_replot(client: Client, monkeypatch):
    grid, diff, note, table, layer, head = client.predict(
        "the cat sat on the mat .", "2", api_name="/attention_diff"
    )
    assert "Hiding" in note and layer["maximum"] == 1 and head["maximum"] == 1
    assert len(table_rows(table)) == 4  # 2 layers × 2 heads
    exported = json.loads(_file(client.predict(api_name="/export_attention_change_json")).read_text())
    assert len(exported) == 4
    from mlm_explorer import attention_change as module

    def no_model(*args, **kwargs):
        raise AssertionError("the model ran for a re-plot")

    monkeypatch.setattr(module, "forward", no_model)
    replot = client.predict(1, 1, api_name="/attention_diff_plot")
    assert "Layer 1, head 1" in replot["plot"]
    with pytest.raises(AppError, match="Choose a word to hide"):
        client.predict("the cat sat .", "", api_name="/attention_diff")
    with pytest.raises(AppError, match="typed in the text does not count"):
        client.predict("the [MASK] sat .", "", api_name="/attention_diff")


def test_tokenizer_view_side_by_side(client: Client):
    chips, other, note, table, other_table = client.predict(
        "unbelievable things", "default", api_name="/tokenizer"
    )
    rows = table_rows(table)
    assert rows[0]["special"] == "yes" and rows[1]["characters"]
    assert {c["class_or_confidence"] for c in chips} >= {"special", "word start"}
    assert len(other) == len(chips) and table_rows(other_table)
    assert "level BPE" in note
    exported = _file(client.predict(api_name="/export_tokens_csv")).read_text().splitlines()
    assert len(exported) == 1 + len(rows)


def test_inside_shows_user_markup_as_text(client: Client):
    heat, ranks, note, table = client.predict(HOSTILE, "", "", 3, api_name="/layers")
    assert "<img" not in heat["plot"] and "<b>bold" not in heat["plot"]
    plot, note, table = client.predict(HOSTILE, "", "", "", 8, "all-[PAD]", api_name="/saliency")
    assert "<img" not in plot["plot"]
    assert "<" in [r["token"] for r in table_rows(table)]  # the user's "<" comes back as a character
    chips, _, note, table, _ = client.predict(HOSTILE, "", api_name="/tokenizer")
    assert "<" in "".join(c["token"] for c in chips)


@pytest.mark.parametrize(
    ("endpoint", "args", "message"),
    [
        ("/layers", ("", "", "", 3), "empty"),
        ("/layers", ("the cat sat .", "", "", 3), "No mask"),
        ("/layers", ("the cat sat .", "", "99", 3), "outside"),
        ("/saliency", ("the <mask> sat .", "", "", "zzzz qqqq", 8, "all-[MASK]"), "not one token"),
        ("/attention_diff", ("the cat sat .", "40"), "outside"),
        ("/saliency", ("the <mask> sat .", "", "two", "", 8, "all-[MASK]"), "whole number"),
    ],
)
def test_bad_input_is_a_message(client: Client, endpoint, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=endpoint)


def test_a_message_is_escaped_once(client: Client):
    # The handler's `except ValueError` also catches the gr.Error its position parser raised
    # (gr.Error is a ValueError): re-wrapping it used to quote the text and escape it twice.
    with pytest.raises(AppError, match="whole number") as info:
        client.predict("the [MASK] .", "", "abc", 3, api_name="/layers")
    message = str(info.value)
    assert "&amp;" not in message and not message.startswith("'"), message


def test_every_view_works_on_the_opening_example(client: Client):
    from mlm_explorer.ui.inside import EXAMPLE, EXAMPLE_POSITIONS

    _, _, note, _ = client.predict(EXAMPLE, EXAMPLE_POSITIONS, "", 3, api_name="/layers")
    assert "hidden word" in note  # a real word was hidden, so its rank is known
    _, note, _ = client.predict(EXAMPLE, EXAMPLE_POSITIONS, "", "", 8, "all-[MASK]", api_name="/saliency")
    assert "add up to" in note
    _, _, note, _, _, _ = client.predict(EXAMPLE, EXAMPLE_POSITIONS, api_name="/attention_diff")
    assert "Hiding" in note
