"""The app through its API: every endpoint via gradio_client against a launched server.

The server runs in this process on 127.0.0.1 with the tiny test checkpoints,
so a test can also look inside (e.g. count model runs).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from tests.app_server import running_app, table_rows  # noqa: E402

INDEPENDENT = "independent (one pass)"
ITERATIVE = "iterative (most confident first)"
HOSTILE = "<img src=x onerror=alert(1)> <b>bold</b>"


@pytest.fixture(scope="module")
def server(tiny_bert_dir: Path):
    """The app launched on loopback with the tiny BERT as the operator's default."""
    with running_app(tiny_bert_dir) as url:
        yield url


@pytest.fixture()
def client(server: str) -> Client:
    return Client(server, verbose=False)


def _file(update) -> Path:
    """A download button's file as gradio_client hands it back (a path, or an update carrying one)."""
    return Path(update["value"] if isinstance(update, dict) else update)


def _download_components(server: str) -> set[int]:
    config = Client(server, verbose=False).config
    return {c["id"] for c in config["components"] if c.get("type") in {"downloadbutton", "file"}}




def test_import_app_builds_the_demo_without_launching():
    import app

    assert isinstance(app.demo, gr.Blocks)
    assert not app.demo.is_running


@pytest.mark.slow
def test_the_library_does_not_import_gradio():
    code = (
        "import sys, mlm_explorer, mlm_explorer.predict, mlm_explorer.plots, mlm_explorer.views; "
        "print('gradio' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_computing_event_has_an_api_name(server: str):
    api = Client(server, verbose=False).view_api(return_format="dict")["named_endpoints"]
    expected = {
        "/tokenize", "/toggle_token", "/redraw_chips", "/predict", "/policy", "/reroll", "/policy_draws",
        "/attention", "/attention_plot", "/score", "/choose_model", "/load_model", "/start_session",
        "/clear_masks", "/copy_link",
    }
    assert expected <= set(api)


#: Events that show a result. None may output a download button: writing two files per result, Gradio
#: caching them and rebuilding the buttons' config cost a quarter of a Predict burst's event loop.
RESULT_EVENTS = {
    "predict", "policy", "reroll", "score", "layers", "saliency", "attention_diff", "tokenizer", "quiz_start",
    "quiz_reveal", "generate", "compare_models", "compare_sentences",
}
EXPORTS = {
    "fill", "policy", "scores", "layers", "saliency", "attention_change", "tokens", "generation",
    "compare_models", "compare_sentences",
}


def test_results_do_not_carry_download_buttons_only_their_export_events_do():
    import app

    config = app.demo.get_config_file()
    kinds = {c["id"]: c["type"] for c in config["components"]}
    events = {d["api_name"]: d for d in config["dependencies"]}
    assert RESULT_EVENTS <= set(events)
    for name in RESULT_EVENTS:
        assert not {kinds[i] for i in events[name]["outputs"]} & {"downloadbutton", "file"}, name
    # Page-open events (first results, links) included: a download button is only ever the output
    # of its own export event (and the fine-tune's zip of its own run).
    with_download = {
        d["api_name"] for d in config["dependencies"]
        if any(kinds[i] == "downloadbutton" for i in d["outputs"])
    }
    expected = {f"export_{stem}_{fmt}" for stem in EXPORTS for fmt in ("csv", "json")}
    assert with_download == expected | {"export_quiz_round_csv", "finetune_start"}
    for name in with_download - {"finetune_start"}:
        assert events[name]["api_visibility"] == "undocumented" and events[name]["show_progress"] == "hidden"


def test_export_before_a_result_says_what_to_do(server: str):
    fresh = Client(server, verbose=False)
    with pytest.raises(AppError, match="Nothing to download yet: press Predict first"):
        fresh.predict(api_name="/export_fill_csv")
    with pytest.raises(AppError, match="Nothing to download yet: press Score first"):
        fresh.predict(api_name="/export_scores_json")


def _same_rows(csv_path, table: dict) -> None:
    """The CSV export holds the result's table: its rows, raw numbers, and every column.

    The page hides empty columns (and more on a phone): what it shows is a subset of the export.
    """
    import pandas as pd

    exported = pd.read_csv(_file(csv_path))
    shown = table["headers"]
    assert [c for c in exported.columns if c in shown] == shown
    rows = table_rows(table)
    assert len(exported) == len(rows)
    for got, want in zip(exported.to_dict("records"), rows, strict=True):
        for key, value in want.items():
            if value is None or value == "":  # an empty CSV cell reads back as NaN
                assert pd.isna(got[key]), key
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                assert got[key] == pytest.approx(value), key
            else:
                assert str(got[key]) == str(value), key


def test_each_session_downloads_its_own_result(server: str):
    cat, dog = Client(server, verbose=False), Client(server, verbose=False)
    _, cat_table, _ = cat.predict("the cat sat on the [MASK] .", "", 3, False, INDEPENDENT,
                                  api_name="/predict")
    _, dog_table, _ = dog.predict("the [MASK] sat on the mat .", "2, 5", 3, False, INDEPENDENT,
                                  api_name="/predict")
    assert table_rows(cat_table) != table_rows(dog_table)
    _same_rows(cat.predict(api_name="/export_fill_csv"), cat_table)
    _same_rows(dog.predict(api_name="/export_fill_csv"), dog_table)
    _, _, score_table, _ = dog.predict("the cat sat .", "", api_name="/score")
    _same_rows(dog.predict(api_name="/export_scores_csv"), score_table)
    with pytest.raises(AppError, match="Nothing to download yet"):
        cat.predict(api_name="/export_scores_csv")  # the dog's score is not the cat's


def test_tokenize_shows_chips_and_typed_masks(client: Client):
    chips, positions, _ = client.predict("The cat sat on the [MASK].", api_name="/tokenize")
    assert positions == ""
    assert [c["token"] for c in chips][:3] == ["the", "cat", "sat"]
    assert chips[-2] == {"token": "[MASK]", "class_or_confidence": "masked"}
    chips = client.predict("The cat sat on the mat.", "2", api_name="/redraw_chips")
    assert chips[1]["class_or_confidence"] == "masked"


def test_predict_gives_bars_table_and_exports(client: Client):
    bars, table, _ = client.predict(
        "The cat sat on the [MASK].", "2", 3, False, INDEPENDENT, api_name="/predict"
    )
    rows = table_rows(table)
    assert [r["pos."] for r in rows] == [2, 6]
    assert rows[0]["original"] == "cat" and rows[1]["original"] == "(unknown)"
    assert rows[0]["rank"] >= 1
    figure = json.loads(bars["plot"])
    assert len(figure["data"]) == 2  # one panel of bars per blank
    csv_file = client.predict(api_name="/export_fill_csv")  # written now, on demand
    json_file = client.predict(api_name="/export_fill_json")
    assert _file(csv_file).read_text().startswith("pos.,")
    assert json.loads(_file(json_file).read_text())[0]["pos."] == 2
    # Raw numbers, not the percent display.
    assert json.loads(_file(json_file).read_text())[0]["p(top-1)"] == pytest.approx(rows[0]["p(top-1)"])


def test_predict_shows_percentages_and_says_what_it_means(client: Client):
    bars, table, note = client.predict("The cat sat on the [MASK].", "2", 3, False, INDEPENDENT,
                                       api_name="/predict")
    assert table["metadata"]["display_value"][0][table["headers"].index("p(top-1)")].endswith("%")
    assert "Position 2: first guess" in note and "the original “cat”" in note
    layout = json.loads(bars["plot"])["layout"]
    assert layout["xaxis"]["range"] == [0.0, 1.0] and layout["xaxis2"]["range"] == [0.0, 1.0]


def test_clear_masks_unmasks_the_clicked_tokens(client: Client):
    chips, positions = client.predict("The cat sat on the mat.", api_name="/clear_masks")
    assert positions == "" and all(c["class_or_confidence"] == "token" for c in chips)


def test_iterative_fill_reports_steps(client: Client):
    _, table, note = client.predict(
        "The [MASK] sat on the [MASK].", "", 3, False, ITERATIVE, api_name="/predict"
    )
    assert [r["step"] for r in table_rows(table)] == [1, 2]
    assert note.startswith("Filled:")


@pytest.mark.parametrize(
    ("text", "positions", "message"),
    [
        ("", "", "empty"),
        ("The cat sat on the mat.", "", "No mask"),
        ("The cat sat on the mat.", "99", "outside"),
        ("The cat sat on the mat.", "two", "whole numbers"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(client: Client, text, positions, message):
    with pytest.raises(AppError, match=message):
        client.predict(text, positions, 3, False, INDEPENDENT, api_name="/predict")
    chips, _, _ = client.predict("still up?", api_name="/tokenize")  # the server stays up
    assert chips


@pytest.mark.parametrize(
    "text", ["🎭 [MASK] 🎉", "שלום [MASK] עולם", "zero\u200bwidth [MASK]", "[MASK] " * 80]
)
def test_unusual_text_works(client: Client, text):
    _, table, _ = client.predict(text, "", 2, False, INDEPENDENT, api_name="/predict")
    assert table_rows(table)


def test_user_markup_comes_back_as_plain_text(client: Client):
    chips, _, _ = client.predict(HOSTILE, api_name="/tokenize")
    # The tiny BERT has no "<" in its vocabulary: it reads [UNK], which still gets a chip.
    assert [c["token"] for c in chips][0] == "[UNK]"
    bars, table, _ = client.predict(HOSTILE + " [MASK]", "", 3, False, INDEPENDENT, api_name="/predict")
    assert "<img" not in bars["plot"] and "<b>bold" not in bars["plot"]


def test_policy_is_reproducible_and_rerolls(client: Client):
    text = "the cat sat on the mat and the dog sat on the floor ."
    first = client.predict(text, 0.5, 0.8, 0.1, 7, False, api_name="/policy")
    again = client.predict(text, 0.5, 0.8, 0.1, 7, False, api_name="/policy")
    assert first[0] == again[0]
    labels = {c["class_or_confidence"] for c in first[0]}
    assert labels <= {"masked", "random", "kept", "untouched"}
    assert "Accuracy over the" in first[1]
    seed, chips, *_ = client.predict(text, 0.5, 0.8, 0.1, 7, False, api_name="/reroll")
    assert seed == 8
    with pytest.raises(AppError, match="at most 1"):
        client.predict(text, 0.5, 0.8, 0.5, 7, False, api_name="/policy")


def test_policy_draws_match_the_nominal_rates(client: Client):
    chart = client.predict("the cat sat on the mat .", 0.3, 0.8, 0.1, 0, False, api_name="/policy_draws")
    data = json.loads(chart["plot"])["data"]
    nominal, empirical = data[0]["y"], data[1]["y"]
    for n, e in zip(nominal, empirical, strict=True):
        assert abs(n - e) < 0.06


def test_attention_replots_without_running_the_model(client: Client, monkeypatch):
    plot, caption, layer, head = client.predict(
        "The cat sat on the [MASK].", "one head", 0, 0, False, api_name="/attention"
    )
    assert "cat" in caption and layer["maximum"] == 1
    from mlm_explorer.ui import attention as attention_tab

    def no_model(*args, **kwargs):
        raise AssertionError("the model ran for a re-plot")

    monkeypatch.setattr(attention_tab, "attention_for_text", no_model)
    for view in ["one head", "all heads of the layer", "mean over heads", "rollout up to the layer"]:
        replot, _ = client.predict(view, 1, 1, True, api_name="/attention_plot")
        assert json.loads(replot["plot"])["data"]
    hidden = json.loads(client.predict("one head", 1, 1, True, api_name="/attention_plot")[0]["plot"])
    assert "[CLS]" not in json.dumps(hidden["layout"]["xaxis"]["ticktext"])


def test_a_replot_of_the_fill_tabs_pass_says_so(client: Client):
    client.predict("the dog sat on the [MASK] .", "", 2, False, INDEPENDENT, api_name="/predict")
    _, caption = client.predict("one head", 0, 0, False, api_name="/attention_plot")
    assert "Fill tab's last Predict" in caption and "dog" in caption
    _, caption, _, _ = client.predict("The cat sat.", "one head", 0, 0, False, api_name="/attention")
    _, caption = client.predict("mean over heads", 0, 0, False, api_name="/attention_plot")
    assert "Fill tab" not in caption and "cat" in caption


def test_all_heads_of_a_long_text_is_a_message_not_a_crash(client: Client, monkeypatch):
    from mlm_explorer.ui import attention as attention_tab

    monkeypatch.setattr(attention_tab, "MAX_ALL_HEADS_TOKENS", 8)  # the tiny model stops at 64 tokens
    plot, caption, _, _ = client.predict("the cat sat on the mat and the dog ran .", "all heads of the layer",
                                         0, 0, False, api_name="/attention")
    assert "All heads at once is drawn for up to" in plot["plot"] and "No colour scale" in caption


def test_attention_replot_before_a_run_says_what_to_do(client: Client):
    plot, _ = client.predict("one head", 0, 0, False, api_name="/attention_plot")
    assert "Run" in plot["plot"]


def test_sentence_scores_compare_two_sentences(client: Client):
    strip_a, strip_b, table, verdict = client.predict(
        "The keys to the cabinet are here.", "The keys to the cabinet is here.", api_name="/score"
    )
    rows = table_rows(table)
    assert len(rows) == 2 and all(r["pseudo-perplexity"] > 1 for r in rows)
    assert "more likely" in verdict and "the grammatical sentence of this pair" in verdict
    assert "Where the gap comes from" in verdict and "“are” (A)" in verdict and "“is” (B)" in verdict
    assert json.loads(strip_a["plot"])["data"][0]["zmin"] == json.loads(strip_b["plot"])["data"][0]["zmin"]
    with pytest.raises(AppError, match="mask"):
        client.predict("The [MASK] is here.", "", api_name="/score")


def test_a_failed_switch_keeps_the_model(client: Client):
    picker, status, _ = client.predict("definitely-not/a-model-xyz", api_name="/load_model")
    assert "Still using the previous model" in status
    assert picker["value"] == "default"
    _, table, _ = client.predict("the [MASK] sat .", "", 2, False, INDEPENDENT, api_name="/predict")
    assert table_rows(table)[0]["model saw"] == "[MASK]"


def test_a_preset_that_cannot_be_fetched_says_so(client: Client):
    # Tests run with HF_HUB_OFFLINE=1 (conftest): a preset not in the cache cannot load.
    picker, status, _ = client.predict("albert/albert-base-v2", api_name="/choose_model")
    assert "Could not fetch" in status and "Still using the previous model" in status
    assert picker["value"] == "default"


def test_choosing_no_model_is_a_message(client: Client):
    picker, status, _ = client.predict(None, api_name="/choose_model")
    assert "Choose a model from the list" in status and picker["value"] == "default"


def test_local_paths_are_refused_unless_allowed(client: Client, tiny_roberta_dir, monkeypatch):
    monkeypatch.delenv("MLM_EXPLORER_ALLOW_LOCAL_PATHS")
    _, status, _ = client.predict(str(tiny_roberta_dir), api_name="/load_model")
    assert "switched off" in status
    _, status, _ = client.predict("not a valid id!", api_name="/load_model")
    assert "not a valid Hugging Face id" in status


def test_a_missing_bundled_model_is_explained(client: Client, monkeypatch):
    from mlm_explorer import models

    monkeypatch.setattr(models, "BUNDLED_MODEL_DIR", Path("/nonexistent/assets/model"))
    _, status, _ = client.predict("bundled", api_name="/choose_model")
    assert "bundled model" in status and "not installed" in status


def test_two_clients_with_different_models_see_their_own_results(server: str, tiny_roberta_dir: Path):
    bert, roberta = Client(server, verbose=False), Client(server, verbose=False)
    _, status, card = roberta.predict(str(tiny_roberta_dir), api_name="/load_model")
    assert "roberta" in status and "<mask>" in status
    results: dict[str, list[str]] = {"bert": [], "roberta": []}

    def run(name: str, c: Client) -> None:
        for _ in range(4):
            _, table, _ = c.predict("the cat [MASK] on the mat .", "", 2, False, INDEPENDENT,
                                    api_name="/predict")
            results[name].append(table_rows(table)[0]["model saw"])

    threads = [threading.Thread(target=run, args=item) for item in (("bert", bert), ("roberta", roberta))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results["bert"] == ["[MASK]"] * 4
    assert results["roberta"] == ["<mask>"] * 4


def test_session_state_is_freed(monkeypatch):
    from mlm_explorer.ui.state import Session, release_session, session_ttl

    s = Session(model_key="bundled", own_model=object(), attention=object())
    release_session(s)
    assert s.own_model is None and s.attention is None
    monkeypatch.setenv("MLM_EXPLORER_SESSION_TTL", "120")
    assert session_ttl() == 120
    monkeypatch.setenv("MLM_EXPLORER_SESSION_TTL", "nonsense")
    assert session_ttl() == 3600


def test_about_clips_a_long_card_between_blocks() -> None:
    from mlm_explorer.ui.about import clip_markdown

    card = "# Card\n\nIntro.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\nMore text.\n"
    assert clip_markdown(card, 1000, "MODEL_CARD.md") == card
    clipped = clip_markdown(card, 30, "MODEL_CARD.md")  # the cap falls inside the table
    assert clipped == "# Card\n\nIntro.\n\n_… the rest is in MODEL_CARD.md._"
    assert len(clip_markdown("x" * 50, 20, "C.md")) < 50


def test_messages_quote_at_most_a_line_of_the_input(monkeypatch):
    from mlm_explorer.models import ModelLoadError
    from mlm_explorer.ui import common

    with pytest.raises(gr.Error, match="outside any text") as info:
        common.parse_positions("9" * 400)
    assert len(info.value.message) < 120
    with pytest.raises(gr.Error, match="whole numbers") as info:
        common.parse_positions("x" * 400)
    assert len(info.value.message) < 120
    monkeypatch.setenv(common.ALLOW_LOCAL_ENV, "0")
    with pytest.raises(ModelLoadError, match="not a valid Hugging Face id") as info:
        common.check_typed_name("a" * 5000)
    assert len(str(info.value)) < 200
    assert common.parse_positions("3, 1 3") == [1, 3]  # ordinary positions pass untouched


def test_a_linked_action_that_cannot_run_says_so_and_the_page_still_opens(monkeypatch):
    from mlm_explorer.ui import _when_linked

    warned = []
    monkeypatch.setattr(gr, "Warning", lambda message, *a, **k: warned.append(message))

    def refuse(*_):
        raise gr.Error("No mask: type [MASK] where a word should be written.")

    run = _when_linked("class", refuse, 2)
    assert run("class", "x") == (gr.skip(), gr.skip())
    assert warned and "could not run: No mask" in warned[0]
    assert run("fill", "x") == (gr.skip(), gr.skip()) and len(warned) == 1  # another tab: not run at all
