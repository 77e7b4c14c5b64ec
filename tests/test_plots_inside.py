"""Figures of the Inside tab: valid plotly, no user markup in labels, diverging scales centred on 0."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from mlm_explorer import plots

HOSTILE = ["<b>bold</b>", "<br>", "<img src=x onerror=alert(1)>", "a&lt;b", "<a href='javascript:x'>"]

INSIDE_KINDS = [
    lambda toks: plots.layer_lens_heatmap(
        [0, 1, 2], [toks[:3], toks[1:4], toks[2:5]], [[0.5, 0.2, 0.1]] * 3, final=toks[2], original=toks[3],
        title=toks[0],
    ),
    lambda toks: plots.layer_rank_lines(
        [0, 1, 2], [30, 4, 1], [50, None, 2], final=toks[2], original=toks[3]
    ),
    lambda toks: plots.saliency_strip(
        toks, {"grad × input": [0.1, -0.2, 0, 0.3, 0.0], "IG": [1, -1, 0, 2, 0]},
        marked=[False, True, False, False, False], title=toks[4],
    ),
    lambda toks: plots.attention_difference_heatmap(np.eye(len(toks)) - 0.2, toks, title=toks[1]),
    lambda toks: plots.head_change_grid(np.arange(6.0).reshape(2, 3), title=toks[0]),
]


@pytest.mark.parametrize("make", INSIDE_KINDS)
def test_inside_figures_validate_and_keep_markup_out(make):
    fig = make(HOSTILE)
    go.Figure(fig.to_plotly_json())  # full plotly validation (the builders skip it for speed)
    text = json.dumps(fig.to_plotly_json(), default=str)
    for raw in ["<b>bold", "<br>", "<img", "<a href"]:
        assert raw not in text


def test_diverging_figures_are_centred_on_zero():
    strip = plots.saliency_strip(["a", "b", "c"], {"IG": [2.0, -1.0, 0.0]}).to_plotly_json()["data"][0]
    assert strip["zmid"] == 0.0 and strip["zmin"] == -1.0 and strip["zmax"] == 1.0
    assert strip["z"][0] == [1.0, -0.5, 0.0]  # scaled to the row's largest magnitude
    assert strip["text"][0] == ["2.00", "-1.00", "0.00"]  # the raw numbers stay readable
    diff = plots.attention_difference_heatmap(np.array([[0.0, 0.3], [-0.1, 0.0]]), ["a", "b"])
    trace = diff.to_plotly_json()["data"][0]
    assert trace["zmin"] == -0.3 and trace["zmax"] == 0.3 and trace["colorscale"] == plots.DIVERGING_SCALE


def test_layer_heatmap_marks_the_final_answer_and_the_original():
    fig = plots.layer_lens_heatmap([0, 1], [["x", "y"], ["paris", "x"]], [[0.4, 0.1], [0.7, 0.1]],
                                   final="paris", original="x")
    text = fig.to_plotly_json()["data"][0]["text"]
    assert text[1][0] == "<b>paris</b>" and text[0][0] == "x ✓"
    # the final answer that is also the hidden word: bold and ticked, in plain text (no colour markup)
    both = plots.layer_lens_heatmap([0], [["paris", "x"]], [[0.7, 0.1]], final="paris", original="paris")
    assert both.to_plotly_json()["data"][0]["text"][0][0] == "<b>paris ✓</b>"
    with pytest.raises(ValueError):
        plots.layer_lens_heatmap([0, 1], [["x"]], [[0.4]])


def test_diverging_scale_runs_red_to_blue_whatever_plotly_js_calls_rdbu() -> None:
    # Positive attributions (pushed the candidate up) must be blue, as the titles say.
    def rgb(colour: str) -> tuple[int, int, int]:
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))

    low, high = rgb(plots.DIVERGING_SCALE[0][1]), rgb(plots.DIVERGING_SCALE[-1][1])
    assert low[0] > low[2] and high[2] > high[0]
    assert plots.DIVERGING_SCALE[0][0] == 0.0 and plots.DIVERGING_SCALE[-1][0] == 1.0


def test_on_a_phone_the_layer_heatmap_keeps_readable_tokens():
    tokens = [["paris", "internationalisation", "x"], ["a", "b", "c"]]
    probs = [[0.5, 0.2, 0.1], [0.4, 0.3, 0.1]]
    wide = plots.layer_lens_heatmap([0, 1], tokens, probs).to_plotly_json()
    phone = plots.layer_lens_heatmap([0, 1], tokens, probs, narrow=True, title="t").to_plotly_json()
    assert "textfont" not in wide["data"][0]  # a laptop: plotly fits the text to the cells
    trace = phone["data"][0]
    assert trace["textfont"]["size"] >= 12
    assert trace["colorbar"]["orientation"] == "h"  # under the plot: the cells get the width
    assert phone["layout"]["yaxis"]["ticktext"] == ["emb.", "1"]
    assert len(trace["text"][0][1]) <= 14 and trace["text"][0][1].endswith("…")
    assert "internationalisation" in trace["customdata"][0][1]  # the hover names it whole
    go.Figure(phone)
    # Projector mode on a phone: the cell text stays what fits the cells.
    big = plots.apply_look(plots.layer_lens_heatmap([0, 1], tokens, probs, narrow=True),
                           plots.Look(projector=True, narrow=True))
    assert big.data[0].textfont.size == trace["textfont"]["size"]


def test_on_a_phone_the_rank_chart_keeps_its_legend_off_the_title():
    fig = plots.layer_rank_lines([0, 1, 2], [30, 4, 1], [50, 3, 1], final="paris", original="rome",
                                 title="Rank of the answer after each layer", narrow=True)
    wide = plots.layer_rank_lines([0, 1, 2], [30, 4, 1], [50, 3, 1], title="t").to_plotly_json()["layout"]
    phone = plots.apply_look(fig, plots.Look(narrow=True)).to_plotly_json()
    layout = phone["layout"]
    assert layout["legend"]["yref"] == "container" and layout["legend"]["y"] == 0  # under the plot
    assert "<br>" in layout["title"]["text"]  # the title wraps, and nothing shares its margin
    assert layout["height"] > wide["height"] + 2 * plots._LEGEND_ROW_PX  # room for the rank axis's title
    assert layout["xaxis"]["type"] == "category" and phone["data"][0]["x"] == ["emb.", "1", "2"]
    assert phone["data"][0]["customdata"] == ["embeddings", "layer 1", "layer 2"]  # hover: full names
    go.Figure(phone)


def test_the_rank_axis_labels_only_powers_of_ten():
    layout = plots.layer_rank_lines([0, 1, 2], [576, 78, 1]).to_plotly_json()["layout"]
    # dtick 1 on a log axis: ticks at 1, 10, 100, ... (plotly's default adds unlabelled-looking 2s and 5s)
    assert layout["yaxis"]["type"] == "log" and layout["yaxis"]["dtick"] == 1


def test_on_a_phone_the_layer_colour_bar_labels_stay_level():
    bar = plots.layer_lens_heatmap([0, 1], [["a", "b"], ["c", "d"]], [[0.2, 0.1], [0.15, 0.05]],
                                   narrow=True).to_plotly_json()["data"][0]["colorbar"]
    assert bar["tickangle"] == 0 and bar["title"]["side"] == "top"
    assert bar["ticktext"] == ["0%", "10%", "20%"]  # three labels: they fit level on a 300 px bar


def test_saliency_states_each_rows_scale():
    fig = plots.saliency_strip(["a", "b", "c"], {"grad × input": [0.08, -0.736, 0.0], "IG": [3.94, 2.0, 0.0]})
    trace = fig.to_plotly_json()["data"][0]
    ticks = fig.to_plotly_json()["layout"]["yaxis"]["ticktext"]
    assert ticks == ["grad × input (±0.736)", "IG (±3.94)"]  # full colour in each row = this value
    assert trace.get("showscale", True) is not False
    bar = trace["colorbar"]
    assert bar["title"]["text"] == plots.SALIENCY_BAR_TITLE and "largest" in bar["title"]["text"]
    assert bar["tickvals"] == [-1.0, 0.0, 1.0] and bar["ticktext"] == ["−100%", "0", "+100%"]
    go.Figure(fig.to_plotly_json())


def test_attention_heatmap_leaves_room_for_the_last_name_and_the_axis_title():
    tokens = ["[CLS]", "the", "cat", "[SEP]"]
    layout = plots.attention_heatmap(np.full((4, 4), 0.25), tokens, title="Layer 0, head 0").to_plotly_json()[
        "layout"]
    # The slanted "[SEP]" runs right of its column: the right margin holds it (plotly hid it past the edge).
    assert layout["margin"]["r"] >= len("[SEP]") * 15 * 0.55 * 0.5
    # The figure's title, the "attended to" title and the slanted names each get their own band.
    room = plots._top_tick_room(tokens, 60)
    assert layout["margin"]["t"] >= 50 + room + plots._AXIS_TITLE_ROOM
    assert layout["title"]["yref"] == "container" and layout["title"]["yanchor"] == "top"


def test_on_a_phone_a_wrapped_grid_title_grows_down_from_the_top_not_onto_the_panels():
    fig = plots.attention_small_multiples(np.full((2, 3, 3), 1 / 3), ["a", "b", "c"],
                                          title="Layer 0: all 12 heads (one colour scale)", columns=2)
    layout = plots.apply_look(fig, plots.Look(narrow=True)).to_plotly_json()["layout"]
    assert "<br>" in layout["title"]["text"]
    # Pinned to the top edge: plotly centres an unpinned title in its margin, so two lines met the panels.
    assert layout["title"]["yref"] == "container" and layout["title"]["yanchor"] == "top"
    assert layout["margin"]["t"] >= 20 + 50 + 20  # the panels' titles, the title, its second line


def test_when_the_answer_is_the_hidden_word_the_rank_chart_draws_one_line_that_says_so():
    same = plots.layer_rank_lines([0, 1, 2], [576, 78, 1], [576, 78, 1], final="paris", original="paris")
    assert len(same.data) == 1 and "= the hidden word" in same.data[0].name
    assert same.data[0].line.color == plots.ORIGINAL_COLOR
    apart = plots.layer_rank_lines([0, 1, 2], [30, 4, 1], [50, 3, 2], final="paris", original="rome")
    assert [t.name for t in apart.data] == ["final answer “paris”", "original “rome”"]
    typed = plots.layer_rank_lines([0, 1, 2], [30, 4, 1], [None, None, None], final="paris")
    assert len(typed.data) == 1 and "hidden" not in typed.data[0].name  # a typed mask: no hidden word
