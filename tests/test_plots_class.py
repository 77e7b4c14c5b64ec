"""Figures and tables of the class activities: valid plotly, one shared scale, no user markup in labels."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import pytest

from mlm_explorer import plots, views
from mlm_explorer.compare import compare_sentences
from mlm_explorer.generate import generate
from mlm_explorer.models import load_model
from mlm_explorer.quiz import parse_items, score_item, start_round

HOSTILE = ["<b>bold</b>", "<br>", "<img src=x onerror=alert(1)>", "a&lt;b"]

MAKERS = [
    lambda t: plots.quiz_bars(
        t, [0.4, 0.3, 0.2, 0.1], [True, False, False, False], [False, True, False, False], title=t[0]
    ),
    lambda t: plots.score_card_chart([1, 3], [2, 4], 5),
    lambda t: plots.generation_strip(t, changed=1, blanks=[False, False, True, True], title=t[2]),
    lambda t: plots.pll_per_sweep_chart({t[0]: [-10.0, -8.0], "iterative": [-6.0]}),
    lambda t: plots.compare_bars(t, [0.4, None, 0.2, 0.1], [0.1, 0.2, None, 0.3], t[1], t[3], title=t[0]),
]


@pytest.mark.parametrize("make", MAKERS)
def test_figures_validate_and_keep_user_markup_as_text(make):
    fig = make(HOSTILE)
    go.Figure(fig.to_plotly_json())  # plotly's own validation
    blob = json.dumps(fig.to_plotly_json(), default=str)
    assert "<img" not in blob and "<b>bold" not in blob


def test_compare_bars_share_one_scale_and_leave_missing_words_without_a_bar():
    fig = plots.compare_bars(["a", "b"], [0.5, None], [0.1, 0.8], "A", "B")
    assert fig.layout.xaxis.range[1] == pytest.approx(0.8 * 1.25)
    assert fig.data[0].x[1] is None and "not one token" in json.dumps(fig.data[0].customdata[1])


def test_quiz_bars_mark_the_answer_and_the_guess():
    fig = plots.quiz_bars(["cat", "dog"], [0.6, 0.3], [False, True], [True, False])
    assert fig.data[0].marker.color[1] == plots.ORIGINAL_COLOR
    assert "← you" in fig.layout.yaxis.ticktext[0]


def test_tables_of_the_activities(tiny_bert_dir):
    lm = load_model(tiny_bert_dir)
    items = parse_items("\n".join(f"the [{w}] sat ." for w in ("cat", "dog", "man", "mat", "cat"))).items
    game = start_round(items, 5)
    game = game.with_reveal(score_item(lm, game.items[0], "dog, cat"))
    assert list(views.quiz_round_table(game).columns)[:3] == ["item", "sentence", "answer"]
    reveal = views.quiz_reveal_table(game.reveals[0])
    assert list(reveal["who"]) == ["answer", "your guess 1", "your guess 2"]
    card = views.score_card_table(game)
    assert list(card["who"]) == ["you", "the model"] and list(card["items"]) == [1, 1]
    trace = generate(lm, 4, "iterative")
    assert len(views.generation_table(trace)) == 4
    c = compare_sentences(lm, "the man [MASK] .", "the woman [MASK] .")
    table = views.comparison_table(c, "man", "woman")
    assert list(table.columns) == views.comparison_columns("man", "woman") and len(table) == len(c.words)


def test_the_generation_strip_wraps_into_rows_on_a_phone():
    tokens = [f"w{i}" for i in range(12)]
    fig = plots.generation_strip(tokens, changed=6, blanks=[i > 8 for i in range(12)], columns=5)
    go.Figure(fig.to_plotly_json())
    z = fig.data[0].z
    assert [len(row) for row in z] == [5, 5, 5] and z[1][1] == 2 and z[2][2] is None
    assert "6" in fig.data[0].text[1][1]  # each cell names its position when the axis is hidden
    assert len(plots.generation_strip(tokens).data[0].z) == 1  # a laptop: one row


def test_a_long_sequence_wraps_into_rows_of_eight_with_long_tokens_set_smaller():
    tokens = ["once", "upon", "a", "time", ",", "a", "man", "once", "lived", "in", "a", "city", "near",
              "the", "mountains", "."]
    fig = plots.generation_strip(tokens, changed=14)
    z, text = fig.data[0].z, fig.data[0].text
    assert [len(row) for row in z] == [8, 8] and z[1][6] == 2  # "mountains", the token just written
    assert "mountains" in text[1][6] and "font-size:11px" in text[1][6] and "14" in text[1][6]
    assert "font-size:11px" not in text[0][0].split("<br>")[0]  # a short token keeps the large type


def test_a_long_token_in_a_long_row_is_set_smaller():
    tokens = ["the", "ph", "##ys", "are", "the", "major", "ph", "##alic", "languages", "."]
    text = plots.generation_strip(tokens, changed=8).data[0].text[0]
    assert "font-size:11px" in text[8] and "languages" in text[8]  # it would run into "##alic"
    assert "font-size" not in text[0] and "font-size" not in text[5]  # short ones keep the large type
    few = plots.generation_strip(["a", "languages", "."]).data[0].text[0]
    assert "font-size" not in few[1]  # three cells leave room enough


def test_a_one_pass_strategy_is_a_level_line_across_the_sweeps():
    fig = plots.pll_per_sweep_chart({"Gibbs": [-30.0, -22.0, -23.0], "left-to-right": [-14.4]})
    gibbs, l2r = fig.data
    assert list(gibbs.x) == [1, 2, 3] and gibbs.mode == "lines+markers"
    assert list(l2r.x) == [1, 3] and list(l2r.y) == [-14.4, -14.4] and "one pass" in l2r.name
    alone = plots.pll_per_sweep_chart({"iterative": [-12.0]}).data[0]
    assert list(alone.x) == [1] and "one pass" not in alone.name  # nothing to compare across
