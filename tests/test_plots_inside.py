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
    assert text[1][0] == "<b>paris</b>" and plots.ORIGINAL_COLOR in text[0][0]
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
