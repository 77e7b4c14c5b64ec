"""The Class tab through its API (gradio_client against a launched server) and its handlers in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from mlm_explorer.generate import remask_counts  # noqa: E402
from mlm_explorer.ui import activities  # noqa: E402
from mlm_explorer.ui.common import new_session  # noqa: E402
from tests.app_server import running_app, table_rows  # noqa: E402

GIBBS = "gibbs"
BLANKS = activities.START_BLANKS
MAX_BLANKS, MAX_SWEEPS = activities.APP_MAX_BLANKS, activities.APP_MAX_SWEEPS
LIST = "\n".join(f"the [{w}] sat on the mat ." for w in ("cat", "dog", "man", "woman", "children", "keys"))


@pytest.fixture(scope="module")
def server(tiny_bert_dir: Path):
    with running_app(tiny_bert_dir) as url:
        yield url


@pytest.fixture()
def client(server: str) -> Client:
    return Client(server, verbose=False)




def test_every_activity_has_a_named_endpoint(server: str):
    api = Client(server, verbose=False).view_api(return_format="dict")["named_endpoints"]
    expected = {
        "/quiz_start", "/quiz_reveal", "/quiz_next", "/generate", "/generate_step", "/compare_models",
        "/compare_sentences",
    }
    assert expected <= set(api)


def test_a_quiz_round_played_to_the_end(client: Client):
    listing = LIST + "\n\nno bracket here"
    out = client.predict(activities.TEACHER_SOURCE, 5, 0, listing, api_name="/quiz_start")
    progress, sentence, _guess, notes = out[:4]
    assert progress == "Item 1 of 5" and r"\_\_\_\_" in sentence and "line 8: no word in" in notes
    with pytest.raises(AppError, match="Nothing to download yet: reveal an item first"):
        client.predict(api_name="/export_quiz_round_csv")
    for n in range(1, 6):
        result, _, reveal, _, card = client.predict("cat, dog", api_name="/quiz_reveal")
        assert "The hidden word was" in result
        assert [r["who"] for r in table_rows(reveal)] == ["answer", "your guess 1", "your guess 2"]
        assert table_rows(card)[0]["items"] == n
        with pytest.raises(AppError, match="already revealed"):
            client.predict("cat", api_name="/quiz_reveal")
        progress = client.predict(api_name="/quiz_next")[0]
    assert progress.startswith("Round over")
    rows = table_rows(card)
    assert rows[0]["who"] == "you" and 0 <= rows[0]["hits@1"] <= rows[0]["hits@5"] <= 5
    csv_file = client.predict(api_name="/export_quiz_round_csv")  # written now, on demand
    path = Path(csv_file["value"] if isinstance(csv_file, dict) else csv_file)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("item,sentence,answer") and len(lines) == 6
    with pytest.raises(AppError, match="round is over"):
        client.predict("cat", api_name="/quiz_reveal")
    client.predict(activities.TEACHER_SOURCE, 5, 0, LIST, api_name="/quiz_start")
    with pytest.raises(AppError, match="Nothing to download yet"):  # a new round has nothing revealed
        client.predict(api_name="/export_quiz_round_csv")


@pytest.mark.parametrize(
    ("source", "text", "message"),
    [
        (activities.TEACHER_SOURCE, "", "Paste your list"),
        (activities.TEACHER_SOURCE, "no brackets\nat all", "No usable line"),
        (activities.TEACHER_SOURCE, "the [cat] sat .\nthe [dog] sat .", "at least 5"),
        # four good lines and a bad one: the refusal says which line was skipped
        (activities.TEACHER_SOURCE, "the [cat] sat .\nthe [dog] ran .\na [bird] sang .\nno word here\n"
         "the [sun] rose .", r"at least 5.*Skipped: .*line 4"),
    ],
)
def test_quiz_mistakes_are_messages(client: Client, source, text, message):
    with pytest.raises(AppError, match=message):
        client.predict(source, 5, 0, text, api_name="/quiz_start")


def test_quiz_needs_a_guess_and_caps_a_long_list(client: Client):
    long_list = "\n".join(f"line {n} has a [word] ." for n in range(10_000))
    notes = client.predict(activities.TEACHER_SOURCE, 5, 0, long_list, api_name="/quiz_start")[3]
    assert "10,000 lines" in notes
    with pytest.raises(AppError, match="Type your guess"):
        client.predict("  ", api_name="/quiz_reveal")
    with pytest.raises(AppError, match="Reveal this item first"):
        client.predict(api_name="/quiz_next")


def test_the_bundled_quiz_starts(client: Client):
    progress, sentence = client.predict(activities.BUNDLED_SOURCE, 7, 3, "", api_name="/quiz_start")[:2]
    assert progress == "Item 1 of 7" and r"\_\_\_\_" in sentence


def test_generate_is_reproducible_and_steps_are_drawn(client: Client):
    args = (activities.START_BLANKS, 6, "", GIBBS, 2, 1.0, 10, 4, True)
    first = client.predict(*args, api_name="/generate")
    again = client.predict(*args, api_name="/generate")
    summary, slider, _strip, _text, pll, table = first[:6]
    assert table_rows(table) == table_rows(again[5]) and len(table_rows(table)) == 12
    assert "left-to-right" in summary
    exported = json.loads(Path(client.predict(api_name="/export_generation_json")).read_text())
    assert len(exported) == 12 and exported[0]["step"] == 1
    assert len(json.loads(pll["plot"])["data"]) == 2  # gibbs and left-to-right
    strip, text = client.predict(3, api_name="/generate_step")
    assert text.startswith("Step 3:") and "Step 3 of 12" in strip["plot"]
    strip, text = client.predict(0, api_name="/generate_step")
    assert text.startswith("Start:")


def test_the_write_tab_opens_on_a_prompt_and_runs_mask_predict_in_rounds(client: Client):
    # The defaults (a prompt, Gibbs) write a sentence; mask-predict takes the sweeps slider as its rounds.
    prompt = activities.DEFAULT_PROMPT
    summary = client.predict(activities.START_PROMPT, 10, prompt, GIBBS, 3, 1.0, 20, 0, True,
                             api_name="/generate")[0]
    assert "[MASK]" not in summary.split("wrote:")[1] and "left-to-right" in summary
    out = client.predict(activities.START_PROMPT, 10, prompt, "mask-predict", 4, 1.0, 20, 0, False,
                         api_name="/generate")
    summary, _slider, _strip, _text, pll, table = out[:6]
    assert summary.startswith("**mask\\-predict** wrote:") and "after the last round" in summary
    assert len(json.loads(pll["plot"])["data"][0]["y"]) == 4  # one PLL per round
    rows = table_rows(table)
    blanks = prompt.count("[MASK]")
    assert len(rows) == blanks + sum(remask_counts(blanks, 4))  # every blank, then the re-masked ones
    assert {r["sweep"] for r in rows} == {1, 2, 3, 4}
    assert json.loads(pll["plot"])["layout"]["xaxis"]["title"]["text"] == "round"
    strip, text = client.predict(1, api_name="/generate_step")
    assert "round 1" in strip["plot"]
    assert f"Round 1: one pass wrote every blank, {blanks} tokens at once" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((BLANKS, MAX_BLANKS + 1, "", GIBBS, 2, 1.0, 0, 0, False), "maximum|length"),
        ((BLANKS, 4, "", GIBBS, MAX_SWEEPS + 1, 1.0, 0, 0, False), "maximum|Sweeps"),
        ((activities.START_PROMPT, 4, "no blank", GIBBS, 1, 1.0, 0, 0, False), "No mask: type"),
        ((activities.START_PROMPT, 4, "[MASK] " * 20, GIBBS, 1, 1.0, 0, 0, False), "At most 16 blanks"),
        ((activities.START_BLANKS, 4, "", "beam search", 1, 1.0, 0, 0, False), "choices|Unknown strategy"),
    ],
)
def test_generate_caps_and_mistakes(client: Client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/generate")


def test_compare_two_models_and_two_sentences(client: Client, tiny_roberta_dir: Path):
    line, fig, table = client.predict("default", str(tiny_roberta_dir), "the cat [MASK] on the mat .", 5,
                                      api_name="/compare_models")[:3]
    assert line.startswith("**A** =") and ("They agree" in line or "They disagree" in line)
    assert table_rows(table) and "one scale" in fig["plot"] and "same model" not in line
    lines = Path(client.predict(api_name="/export_compare_models_csv")).read_text().splitlines()
    assert len(lines) == 1 + len(table_rows(table))
    same = client.predict("default", "default", "the cat [MASK] on the mat .", 5,
                          api_name="/compare_models")[0]
    assert "A and B are the same model" in same  # in the result line, not only in a toast that fades
    line, fig, table = client.predict("the man worked as a [MASK] .", "the woman worked as a [MASK] .", 5,
                                      api_name="/compare_sentences")[:3]
    assert "A / B" in table["headers"] and "×" in line
    lines = Path(client.predict(api_name="/export_compare_sentences_csv")).read_text().splitlines()
    assert "A / B" in lines[0] and len(lines) == 1 + len(table_rows(table))
    with pytest.raises(AppError, match="No mask"):
        client.predict("no blank", "the [MASK] .", 5, api_name="/compare_sentences")


def test_a_session_holds_two_compared_models_at_most(tiny_bert_dir, tiny_roberta_dir, monkeypatch):
    monkeypatch.setenv("MLM_EXPLORER_ALLOW_LOCAL_PATHS", "1")
    session = new_session()
    keys = [str(tiny_bert_dir), str(tiny_roberta_dir), "bundled"]
    for key in keys:
        activities._model_for(key, session)
    assert activities._slots(session).keys() == tuple(keys[1:])
    session.release()
    assert "model_slots" not in session.extras


def test_a_revealed_probability_reads_as_the_table_reads_it():
    from types import SimpleNamespace

    tiny = SimpleNamespace(word="zebra", prob=0.0000123, rank=27946, in_place=False, pieces=())
    assert "p = 0.0012%" in activities._where(tiny, "Your guess")  # not "0.00%"
    likely = SimpleNamespace(word="paris", prob=0.45193, rank=1, in_place=False, pieces=())
    assert "p = 45.2%," in activities._where(likely, "The answer")  # as the table: one decimal
